"""The local stack `make demo` runs: a Temporal dev server, a worker and the HTTP API, as
background processes whose ids are kept under ``.data/`` so `make stop` (or a second demo)
finds them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devtools.dev_server import DevServer, port_open, start_dev_server
from store.private_files import (
    OWNER_ONLY_UMASK,
    PRIVATE_FOLDER,
    open_private_log,
    private_folder,
    write_private_text,
)

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LocalStackPaths:
    data: Path

    @property
    def temporal_db(self) -> Path:
        return self.data / "temporal.db"

    @property
    def temporal_log(self) -> Path:
        return self.data / "temporal.log"

    @property
    def worker_log(self) -> Path:
        return self.data / "worker.log"

    @property
    def api_log(self) -> Path:
        return self.data / "api.log"

    @property
    def mail_folder(self) -> Path:
        return self.data / "demo-mail"

    def pid_file(self, name: str) -> Path:
        return self.data / f"{name}.pid"


def _private_data(paths: LocalStackPaths) -> None:
    """The stack's folder, 0700: made so, or (one an earlier version made) tightened, since it
    is ours and holds the histories, the store and the secrets."""
    private_folder(paths.data).chmod(PRIVATE_FOLDER)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(paths: LocalStackPaths, name: str) -> int | None:
    """The pid recorded for ``name`` if that process is still alive."""
    try:
        pid = int(paths.pid_file(name).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def ensure_temporal(paths: LocalStackPaths, port: int = 7233, ui_port: int = 8233) -> str:
    """Start the dev server unless something already serves the port; what was done."""
    if port_open("127.0.0.1", port):
        return f"Temporal already running on localhost:{port}"
    _private_data(paths)
    server: DevServer = start_dev_server(
        paths.temporal_db, port=port, ui_port=ui_port, log_file=paths.temporal_log
    )
    write_private_text(paths.pid_file("temporal"), str(server.process.pid))
    return f"started Temporal dev server on localhost:{port} (data in {paths.temporal_db})"


def ensure_worker(paths: LocalStackPaths, environment: dict[str, str]) -> str:
    if running_pid(paths, "worker") is not None:
        return "worker already running"
    _start(paths, "worker", [sys.executable, str(ROOT / "worker.py")], environment)
    return f"started the worker (log in {paths.worker_log})"


def ensure_api(paths: LocalStackPaths, environment: dict[str, str], host: str, port: int) -> str:
    """The HTTP API and pages (`starter.py serve`) unless something already serves the port."""
    if running_pid(paths, "api") is not None or port_open(host, port):
        return f"HTTP API already running on http://{host}:{port}"
    command = [sys.executable, str(ROOT / "starter.py"), "serve", "--host", host]
    process = _start(paths, "api", [*command, "--port", str(port)], environment)
    deadline = time.monotonic() + 20
    while not port_open(host, port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the HTTP API did not start; see {paths.api_log}")
        time.sleep(0.1)
    return f"started the HTTP API on http://{host}:{port} (log in {paths.api_log})"


def ensure_mail(paths: LocalStackPaths, environment: dict[str, str], port: int) -> str:
    """The demo's SMTP server (devtools/demo_mail.py) unless something already serves the
    port: every e-mail the worker sends lands in ``paths.mail_folder``."""
    if running_pid(paths, "mail") is not None or port_open("127.0.0.1", port):
        return f"mail server already running on 127.0.0.1:{port}"
    command = [sys.executable, "-m", "devtools.demo_mail", "--port", str(port)]
    process = _start(paths, "mail", [*command, "--folder", str(paths.mail_folder)], environment)
    deadline = time.monotonic() + 20
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the demo mail server did not start; see {paths.data / 'mail.log'}")
        time.sleep(0.1)
    return f"started the demo mail server on 127.0.0.1:{port} (e-mails in {paths.mail_folder})"


def _start(
    paths: LocalStackPaths, name: str, command: list[str], environment: dict[str, str]
) -> subprocess.Popen[bytes]:
    _private_data(paths)
    with open_private_log(paths.data / f"{name}.log") as log:
        # Owner-only umask: what the worker and the API create (the SQLite store and its
        # -wal/-shm files, secrets, traces) is 0600 whatever creates it.
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=OWNER_ONLY_UMASK,
        )
    write_private_text(paths.pid_file(name), str(process.pid))
    time.sleep(0.5)
    if process.poll() is not None:
        raise RuntimeError(f"the {name} exited at once; see {paths.data / f'{name}.log'}")
    return process


def stop(paths: LocalStackPaths) -> list[str]:
    """Stop the API, the worker and the demo mail server, then Temporal, if we started them;
    what was stopped."""
    stopped = []
    for name in ("api", "worker", "mail", "temporal"):
        pid = running_pid(paths, name)
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
            stopped.append(f"stopped {name} (pid {pid})")
        paths.pid_file(name).unlink(missing_ok=True)
    return stopped
