"""The checked-in OpenAPI schema is the one the app serves."""

from __future__ import annotations

from pathlib import Path

from api.openapi import rendered

CHECKED_IN = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def test_docs_openapi_json_matches_the_app() -> None:
    assert CHECKED_IN.read_text() == rendered(), (
        "the API changed: run `.venv/bin/python -m api.openapi > docs/openapi.json` and commit it"
    )
