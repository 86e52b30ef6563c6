"""The demo's start path (devtools/local_stack.py: a Temporal dev server, a worker and the API,
each its own process) in a fresh ``.data/``, under the usual umask 022: everything in it ends
up 0700 (folders) or 0600 (files), including what the Go dev server and SQLite create (the
histories' database and its -wal/-shm files, the store), the secrets, logs and pid files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools import local_stack
from devtools.dev_server import free_port

pytestmark = pytest.mark.temporal
REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def eventually(what: str, condition) -> None:  # type: ignore[no-untyped-def]
    """Wait (in real time, generously) for something another process does."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.2)


# The stack starts from a process of its own that then exits, as `make demo` leaves it: its
# processes are then nobody's children here, and `stop` (by their pid files) ends them at once.
LAUNCH = """
import os
import sys
from pathlib import Path
from devtools import local_stack
paths = local_stack.LocalStackPaths(Path(sys.argv[1]))
port, ui_port, api_port = (int(arg) for arg in sys.argv[2:5])
local_stack.ensure_temporal(paths, port=port, ui_port=ui_port)
local_stack.ensure_worker(paths, dict(os.environ))
local_stack.ensure_api(paths, dict(os.environ), "127.0.0.1", api_port)
"""


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    data = tmp_path / ".data"
    port, ui_port, api_port = free_port(), free_port(), free_port()
    environment = {
        **os.environ,
        "HDB_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "HDB_TASK_QUEUE": "private-data",
        "HDB_DATABASE_URL": f"sqlite:///{data / 'helpdesk-billing.db'}",
        "HDB_SECRETS_DIR": str(data / "secrets"),
        "HDB_OTEL_CONSOLE_FILE": str(data / "traces.log"),
    }
    try:
        launched = subprocess.run(
            [sys.executable, "-c", LAUNCH, str(data), str(port), str(ui_port), str(api_port)],
            cwd=REPO,
            env=environment,
            umask=0o022,  # the usual: without our modes, new files would be 0644
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert launched.returncode == 0, launched.stderr
        yield data, f"http://127.0.0.1:{api_port}"
    finally:
        local_stack.stop(local_stack.LocalStackPaths(data))


def test_everything_the_local_stack_creates_in_data_is_the_owners_only(
    started: tuple[Path, str],
) -> None:
    data, api = started
    # The API makes its secrets on start; the login page sets a session (signing key).
    assert httpx.get(f"{api}/login", timeout=30).status_code == 200
    expected = {
        "temporal.db",
        "temporal.log",
        "temporal.pid",
        "worker.log",
        "worker.pid",
        "api.log",
        "api.pid",
        "helpdesk-billing.db",
        "secrets",
        "secrets/webhook_secret",
        "secrets/signing_key",
    }

    def created() -> set[str]:
        return {str(path.relative_to(data)) for path in data.rglob("*")}

    eventually("the store, the secrets and the logs", lambda: expected <= created())
    found = {str(path.relative_to(data)): mode(path) for path in [data, *sorted(data.rglob("*"))]}
    wrong = {
        name: oct(bits)
        for name, bits in found.items()
        if bits != (0o700 if (data / name).is_dir() else 0o600)
    }
    assert not wrong, (wrong, sorted(found))
    assert any(name.startswith("temporal.db-") for name in found), sorted(found)  # its WAL
