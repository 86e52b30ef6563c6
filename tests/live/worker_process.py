"""The worker as a process of its own (``python worker.py``), for tests that kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from settings import Settings
from tests.conftest import REPO


def worker_environment(settings: Settings, **more: str) -> dict[str, str]:
    """This process's environment plus the HDB_* variables that give a worker ``settings``'
    server, task queue, book and store (and ``more``, as HDB_<NAME>)."""
    return {
        **os.environ,
        "HDB_TEMPORAL_ADDRESS": settings.temporal_address,
        "HDB_TASK_QUEUE": settings.task_queue,
        "HDB_BOOK_PATH": str(settings.book_path),
        "HDB_DATABASE_URL": settings.database_url,
        "HDB_OTEL_EXPORTER": settings.otel_exporter,
        **{f"HDB_{name.upper()}": value for name, value in more.items()},
    }


def start_worker(environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A worker configured by ``environment`` (HDB_* variables), appending to ``log``."""
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, str(REPO / "worker.py")],
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_hard(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no cleanup, as a crash or an OOM kill would leave it."""
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
