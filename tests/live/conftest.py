"""Temporal servers for the live tests: the time-skipping test server, started once per run.

Their clients use the converter production uses with default settings (``data_converter_for``:
payloads over 32 KiB compressed), so the workers the tests run on them compress for real."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devtools.dev_server import DevServer, connect_when_serving, free_port, start_dev_server
from runtime.data_converter import data_converter_for
from runtime.temporal_setup import register_search_attributes
from settings import Settings

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=data_converter_for(Settings()),
    )
    await register_search_attributes(env.client, "default")
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """A real ``temporal server start-dev`` (SQLite file, no UI) on a free port."""
    directory = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(
        directory / "temporal.db",
        port=free_port(),
        ui_port=None,
        log_file=directory / "server.log",
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def dev_client(dev_server: DevServer) -> Client:
    return await connect_when_serving(
        dev_server.address, data_converter=data_converter_for(Settings())
    )
