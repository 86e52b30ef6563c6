"""The health endpoints on a real uvicorn: live always; ready only while the store and Temporal
both answer, and the answer names what is down."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.app import create_app
from devtools.dev_server import DevServer, free_port
from settings import Settings
from tests.live.api_server import serving


def settings_for(tmp_path: Path, temporal_address: str) -> Settings:
    return Settings(
        temporal_address=temporal_address,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        secrets_dir=tmp_path / "secrets",
        otel_exporter="none",
    )


async def test_ready_while_store_and_temporal_answer(dev_server: DevServer, tmp_path: Path) -> None:
    with serving(create_app(settings_for(tmp_path, dev_server.address)), free_port()) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/health/live")).json() == {"status": "live"}
            ready = await http.get("/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_not_ready_without_temporal_and_it_says_so(tmp_path: Path) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    with serving(create_app(settings_for(tmp_path, nowhere)), free_port()) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            live = await http.get("/health/live")
            ready = await http.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert set(ready.json()["problems"]) == {"temporal"}
