"""``worker.py`` with a chaotic billing adapter, for the chaos campaign (bench/chaos.py).

    HDB_CHAOS_BILLING_FAILURES=0.2 .venv/bin/python bench/chaos_worker.py

Exactly ``worker.py`` (same settings, schedules, signals, exit codes), except that the billing
adapter the settings choose is wrapped in ``connectors.chaos.ChaoticBilling`` when
``HDB_CHAOS_BILLING_FAILURES`` is set: what ``connectors/selection.billing_adapter`` does once
docs/chaos.md's four lines are added to it. ``HDB_CHAOS_WORKER_IDENTITY`` names the worker in
Temporal (the ``identity`` on the activity and workflow tasks it runs).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.engine import Engine

from connectors import selection
from connectors.billing import BillingAdapter
from connectors.chaos import maybe_chaotic
from settings import Settings

_chosen = selection.billing_adapter


def chaotic_billing_adapter(settings: Settings, engine: Engine) -> BillingAdapter:
    return maybe_chaotic(_chosen(settings, engine), settings)


selection.billing_adapter = chaotic_billing_adapter  # runtime.worker_parts calls it by module

import worker  # noqa: E402  (after the patches, so worker.py uses them)

_identity = os.environ.get("HDB_CHAOS_WORKER_IDENTITY", "").strip()
if _identity:
    # worker.py builds temporalio's Worker without an identity (it then uses the client's,
    # "<pid>@<host>"); a fixed name makes per-worker counts readable.
    worker.Worker = functools.partial(worker.Worker, identity=_identity)  # type: ignore[misc]

if __name__ == "__main__":
    sys.exit(worker.main())
