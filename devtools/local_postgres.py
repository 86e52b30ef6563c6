"""A throwaway PostgreSQL cluster on loopback, for tests and benchmarks: ``initdb`` into a new
directory, ``pg_ctl start`` on a free port, one database, removed when done.

It uses the server binaries the operating system installed (Debian's ``postgresql-15``:
``/usr/lib/postgresql/15/bin``). PostgreSQL refuses to run as root, so as root it runs as the
``postgres`` system account the package creates, in a directory that account owns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devtools.dev_server import free_port

DATABASE = "helpdesk_billing"
START_TIMEOUT_SECONDS = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here; the message says how to install them."""


@dataclass(frozen=True, slots=True)
class LocalPostgres:
    url: str  # SQLAlchemy URL (psycopg 3)
    port: int
    directory: Path


def server_binaries() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: on PATH, else the newest of Debian's."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not installed:
        raise PostgresUnavailable(
            "PostgreSQL server binaries were not found (initdb): install them with "
            "`apt-get install postgresql-15` (.ci/run does)"
        )
    return installed[-1].parent


@contextmanager
def local_postgres(settings: dict[str, str] | None = None) -> Iterator[LocalPostgres]:
    """A running cluster with an empty database; stopped and deleted when the block ends.

    ``settings`` are extra server settings (``-c name=value``). Durability is off (fsync,
    synchronous commit): the cluster is thrown away, and tests should not wait on disks."""
    binaries = server_binaries()
    as_root = os.geteuid() == 0
    # Not under the caller's temporary directory: pytest's are private to root, and the
    # server's account must be able to reach its own directory.
    directory = Path(tempfile.mkdtemp(prefix="hdb-postgres-"))
    directory.chmod(0o755)
    data, log = directory / "data", directory / "server.log"
    if as_root:
        shutil.chown(directory, "postgres", "postgres")
    port = free_port()
    options = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(directory),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "timezone": "UTC",
        **(settings or {}),
    }
    server_options = " ".join(f"-c {name}={value}" for name, value in options.items())

    def run(*command: str) -> None:
        argv = [str(binaries / command[0]), *command[1:]]
        if as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            if log.exists():
                detail += "\n" + log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): {detail}")

    try:
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            server_options,
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "start",
        )
        try:
            run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", DATABASE)
            url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
            yield LocalPostgres(url, port, directory)
        finally:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
