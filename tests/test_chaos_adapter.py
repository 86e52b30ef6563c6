"""The chaos billing wrapper (connectors/chaos.py): fails the share of calls it is told to, in
every kind, the same way for the same seed, and a lost reply follows a post that was done."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.ticket_activities import waits_as_asked
from billing.posting import BillableLine
from connectors.billing import BillingUnavailable, PostReceipt, PostRequest
from connectors.chaos import (
    KINDS,
    ChaosConfig,
    ChaosTimeout,
    ChaoticBilling,
    Throttled,
    injected,
    maybe_chaotic,
)
from settings import Settings, SettingsError

LINE = BillableLine(
    source_id="te-1",
    kind="labor",
    service_code="LAB",
    description="Remote work",
    quantity=Decimal("1.00"),
    unit_price=Decimal("95.00"),
    amount=Decimal("95.00"),
    taxable=False,
)


class Recorder:
    """Enough of a billing adapter: remembers what was posted."""

    def __init__(self) -> None:
        self.posted: list[str] = []

    def post_lines(self, request: PostRequest) -> PostReceipt:
        self.posted.append(request.posting_key)
        return PostReceipt(request.posting_key, "INV-1", 1, Decimal("95.00"), False)

    def ticket_lines(self, ticket_id: str) -> list:  # type: ignore[type-arg]
        return []

    def customer_exists(self, billing_customer_id: str) -> bool:
        return True


def request(key: str) -> PostRequest:
    return PostRequest(key, "T-1", "CUST-1", [LINE], "2026-11")


def quick(**overrides: object) -> ChaosConfig:
    return ChaosConfig(**{"timeout_delay": 0.0, "seed": 3, **overrides})  # type: ignore[arg-type]


def outcome(chaos: ChaoticBilling, key: str) -> str:
    try:
        chaos.post_lines(request(key))
    except Throttled:
        return "throttled"
    except ChaosTimeout:
        return "timeout"
    except BillingUnavailable:
        return "unavailable"
    return "ok"


def test_a_fifth_of_calls_fail_in_every_kind_and_the_rest_go_through() -> None:
    inner = Recorder()
    chaos = ChaoticBilling(inner, quick())  # type: ignore[arg-type]
    kinds = Counter(chaos.decide("post_lines", f"key-{n}", 1) for n in range(5_000))
    failed = 5_000 - kinds[None]
    assert 0.18 < failed / 5_000 < 0.22
    assert set(kinds) - {None} == set(KINDS)
    assert chaos.decide("list_customers", "-", 1) is None  # not a chaotic call by default


def test_the_same_seed_and_attempt_fail_alike_and_a_retry_draws_afresh() -> None:
    one = ChaoticBilling(Recorder(), quick())  # type: ignore[arg-type]
    two = ChaoticBilling(Recorder(), quick())  # type: ignore[arg-type]
    other = ChaoticBilling(Recorder(), quick(seed=4))  # type: ignore[arg-type]
    draws = [(f"k{n}", attempt) for n in range(300) for attempt in (1, 2)]
    first = [one.decide("post_lines", key, attempt) for key, attempt in draws]
    assert first == [two.decide("post_lines", key, attempt) for key, attempt in draws]
    assert first != [other.decide("post_lines", key, attempt) for key, attempt in draws]
    # A call that failed on its first attempt is not doomed to fail on the next.
    failed_first = [
        key for key, attempt in draws if attempt == 1 and one.decide("post_lines", key, 1)
    ]
    assert any(one.decide("post_lines", key, 2) is None for key in failed_first)


def test_a_lost_reply_comes_after_the_lines_were_posted(tmp_path: Path) -> None:
    inner = Recorder()
    log = tmp_path / "chaos.jsonl"
    chaos = ChaoticBilling(inner, quick(log_file=log))  # type: ignore[arg-type]
    key = next(
        f"k{n}" for n in range(1_000) if chaos.decide("post_lines", f"k{n}", 1) == "lost_reply"
    )
    assert outcome(chaos, key) in {"unavailable", "timeout"}
    assert inner.posted == [key]  # done, although the caller was told it failed
    assert [entry["kind"] for entry in injected(log)] == ["lost_reply"]
    # Outside an activity the wrapper counts the attempts itself: the next call draws anew.
    again = "ok" if chaos.decide("post_lines", key, 2) is None else "failed"
    assert (outcome(chaos, key) == "ok") == (again == "ok")


@pytest.mark.parametrize("kind", ["unavailable", "throttled", "timeout"])
def test_other_failures_come_before_the_billing_system_sees_the_call(kind: str) -> None:
    inner = Recorder()
    chaos = ChaoticBilling(inner, quick())  # type: ignore[arg-type]
    key = next(f"k{n}" for n in range(1_000) if chaos.decide("post_lines", f"k{n}", 1) == kind)
    assert outcome(chaos, key) == kind
    assert inner.posted == []


def test_a_throttled_call_sets_temporals_next_retry_delay() -> None:
    chaos = ChaoticBilling(Recorder(), quick(retry_after=7))  # type: ignore[arg-type]
    key = next(
        f"k{n}" for n in range(1_000) if chaos.decide("post_lines", f"k{n}", 1) == "throttled"
    )
    with pytest.raises(ApplicationError) as raised, waits_as_asked():
        chaos.post_lines(request(key))
    assert raised.value.next_retry_delay == timedelta(seconds=7)
    assert raised.value.type == "Throttled"


def test_off_unless_the_variable_is_set(tmp_path: Path) -> None:
    inner = Recorder()
    assert maybe_chaotic(inner, Settings.from_environment({})) is inner  # type: ignore[arg-type]
    settings = Settings.from_environment(
        {
            "HDB_CHAOS_BILLING_FAILURES": "0.5",
            "HDB_CHAOS_BILLING_SEED": "9",
            "HDB_CHAOS_BILLING_METHODS": "post_lines",
            "HDB_CHAOS_BILLING_LOG": str(tmp_path / "log"),
        }
    )
    wrapped = maybe_chaotic(inner, settings)  # type: ignore[arg-type]
    assert isinstance(wrapped, ChaoticBilling)
    assert wrapped.decide("ticket_lines", "T-1", 1) is None
    with pytest.raises(ValueError, match="FAILURES"):
        ChaosConfig(failure_rate=1.5)
    with pytest.raises(SettingsError, match="HDB_CHAOS_BILLING_FAILURES: must be at most 1"):
        Settings.from_environment({"HDB_CHAOS_BILLING_FAILURES": "1.5"})
    with pytest.raises(ValueError, match="no such billing call"):
        ChaosConfig(methods=frozenset({"drop_tables"}))
