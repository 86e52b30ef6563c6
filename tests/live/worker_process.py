"""The worker as a process of its own (``python worker.py``), for tests that kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


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
