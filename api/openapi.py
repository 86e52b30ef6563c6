"""Print the API's OpenAPI schema, as checked in at docs/openapi.json:

    .venv/bin/python -m api.openapi > docs/openapi.json

A test fails when the app's schema and the checked-in file differ, so a change to the API is
always a change to this file too (and shows in review)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from api.app import create_app
from settings import Settings


def schema() -> dict:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite:///{Path(folder) / 'schema.db'}",
            secrets_dir=Path(folder),
            webhook_secret="unused",
            signing_key="unused",
        )
        return create_app(settings).openapi()


def rendered() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(rendered())
