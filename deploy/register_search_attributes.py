"""Register the search attributes tickets publish (BillingStatus, CustomerId, ...) in the
namespace HDB_TEMPORAL_NAMESPACE of HDB_TEMPORAL_ADDRESS, once, before the first worker starts.

    python deploy/register_search_attributes.py

A self-hosted cluster needs this once per namespace (``make demo``'s dev server gets them as
start flags). Idempotent: names already there are left alone. Exit 0, or 1 with the reason.
On Temporal Cloud add them in the Cloud UI or with ``tcld`` instead (deploy/k8s/README.md).
"""

from __future__ import annotations

import asyncio
import os
import sys


async def register() -> list[str]:
    from runtime.client import connect
    from runtime.temporal_setup import register_search_attributes
    from settings import Settings

    settings = Settings.from_environment()
    client = await connect(settings)
    return await register_search_attributes(client, settings.temporal_namespace)


def main() -> int:
    try:
        added = asyncio.run(register())
    except Exception as problem:  # one line with the reason; the orchestrator retries
        print(f"error: {problem}", file=sys.stderr)
        return 1
    print("added: " + ", ".join(added) if added else "search attributes already registered")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
