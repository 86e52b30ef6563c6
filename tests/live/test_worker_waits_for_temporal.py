"""A worker started before Temporal (or during a restart) waits for it instead of exiting."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from devtools.dev_server import free_port, start_dev_server
from tests.live.worker_process import kill_hard, start_worker

pytestmark = pytest.mark.temporal  # starts its own Temporal server


async def test_a_worker_started_before_the_server_waits_and_then_serves(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    environment = {
        **os.environ,
        "HDB_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "HDB_TASK_QUEUE": "waits-for-temporal",
        "HDB_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "HDB_SECRETS_DIR": str(tmp_path / "secrets"),
        "HDB_OTEL_EXPORTER": "none",
    }
    worker = start_worker(environment, log)
    server = None
    try:
        await asyncio.sleep(4)
        assert worker.poll() is None, log.read_text()
        assert "retrying" in log.read_text()
        server = start_dev_server(tmp_path / "temporal.db", port=port, ui_port=None)
        for _ in range(120):
            if "worker on" in log.read_text():
                break
            await asyncio.sleep(0.5)
        assert "worker on" in log.read_text(), log.read_text()[-2000:]
        assert worker.poll() is None
    finally:
        kill_hard(worker)
        if server is not None:
            server.stop()
