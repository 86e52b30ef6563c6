"""A throttled system's Retry-After reaches Temporal as the next attempt's delay; any other
failure is left to the activity's retry policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.ticket_activities import waits_as_asked
from connectors.billing import BillingUnavailable
from connectors.quickbooks import QuickBooksThrottled
from connectors.zendesk import ZendeskUnavailable


@pytest.mark.parametrize(
    ("error", "delay"),
    [
        (QuickBooksThrottled("429 from QuickBooks", retry_after=7), timedelta(seconds=7)),
        (ZendeskUnavailable("429 from Zendesk", retry_after=1.5), timedelta(seconds=1.5)),
    ],
)
def test_a_retry_after_becomes_the_next_retry_delay(error: Exception, delay: timedelta) -> None:
    with pytest.raises(ApplicationError) as raised, waits_as_asked():
        raise error
    assert raised.value.next_retry_delay == delay
    assert raised.value.type == type(error).__name__
    assert not raised.value.non_retryable
    assert raised.value.__cause__ is error


def test_without_a_retry_after_the_error_is_left_alone() -> None:
    for error in (BillingUnavailable("timed out"), ZendeskUnavailable("503", retry_after=None)):
        with pytest.raises(type(error)) as raised, waits_as_asked():
            raise error
        assert raised.value is error
