"""Every response says its server time in a ``Server-Timing`` header (api/server_timing.py): the
pages, the API, the static files and the error pages alike, as milliseconds."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from settings import Settings
from store.database import open_store

TIMING = re.compile(r"^app;dur=\d+\.\d$")


def test_pages_api_static_and_errors_carry_their_server_time(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/store.db",
        secrets_dir=tmp_path / "secrets",
        temporal_address="127.0.0.1:1",
    )
    engine = open_store(settings.database_url)
    with TestClient(create_app(settings, engine=engine)) as client:
        answers = {
            path: client.get(path, follow_redirects=False)
            for path in ("/login", "/review", "/static/pages.css", "/api/tickets/T-1", "/nowhere")
        }
    engine.dispose()
    statuses = {path: answer.status_code for path, answer in answers.items()}
    assert statuses == {
        "/login": 200,
        "/review": 303,
        "/static/pages.css": 200,
        "/api/tickets/T-1": 401,
        "/nowhere": 404,
    }
    timings = {path: answer.headers.get("server-timing", "") for path, answer in answers.items()}
    assert all(TIMING.match(timing) for timing in timings.values()), timings
