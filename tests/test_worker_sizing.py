"""The worker's sizing settings: activity threads and the workflow cache, their defaults (what
worker.py ran with before they were settings) and their errors, which name the variable."""

from __future__ import annotations

import pytest

from settings import Settings, SettingsError


def test_defaults_are_what_the_worker_ran_with() -> None:
    settings = Settings.from_environment({})
    assert settings.worker_activity_threads == 32
    assert settings.worker_max_cached_workflows == 1000  # the Temporal SDK's own default


def test_both_are_read_from_the_environment() -> None:
    settings = Settings.from_environment(
        {"HDB_WORKER_ACTIVITY_THREADS": "8", "HDB_WORKER_MAX_CACHED_WORKFLOWS": "0"}
    )
    assert (settings.worker_activity_threads, settings.worker_max_cached_workflows) == (8, 0)


@pytest.mark.parametrize(
    ("environment", "variable"),
    [
        ({"HDB_WORKER_ACTIVITY_THREADS": "0"}, "HDB_WORKER_ACTIVITY_THREADS"),
        ({"HDB_WORKER_ACTIVITY_THREADS": "many"}, "HDB_WORKER_ACTIVITY_THREADS"),
        ({"HDB_WORKER_MAX_CACHED_WORKFLOWS": "-1"}, "HDB_WORKER_MAX_CACHED_WORKFLOWS"),
        ({"HDB_WORKER_MAX_CACHED_WORKFLOWS": "1e3"}, "HDB_WORKER_MAX_CACHED_WORKFLOWS"),
    ],
)
def test_a_bad_value_names_the_variable(environment: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment(environment)
    assert f"{variable}:" in str(raised.value)
