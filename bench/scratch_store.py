"""A throwaway review store for a benchmark: a SQLite file in a temporary folder, or a
PostgreSQL 15 cluster of its own (devtools/local_postgres.py), gone when the run ends."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.local_postgres import local_postgres


@contextmanager
def scratch_store(kind: str, name: str) -> Iterator[str]:
    """The database URL of a new, empty store; ``kind`` is sqlite or postgresql, ``name`` names
    the SQLite file's folder (hdb-bench-NAME-…)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"hdb-bench-{name}-") as directory:
            yield f"sqlite:///{Path(directory) / 'store.db'}"
    else:
        with local_postgres() as cluster:
            yield cluster.url
