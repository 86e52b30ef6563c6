"""``serve``: the HTTP API, the help desk webhook and the pages, on HDB_API_HOST:HDB_API_PORT."""

from __future__ import annotations

import argparse
import gc

from cli.live import open_review_store, run_command
from settings import Settings


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the HTTP API, the signed help desk webhook and the review pages",
        description="Serve the HTTP API (/api, docs at /api/docs), the help desk webhook "
        "(POST /webhooks/events) and the review, exception and signoff pages. Temporal may be "
        "down when it starts: requests that need it answer 503 until it is back.",
    )
    parser.add_argument("--host", help="listen address (default HDB_API_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default HDB_API_PORT, 8000)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_command(lambda settings: serve(settings, args))


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    app = create_app(settings, engine=open_review_store(settings))
    # The app's ~145,000 startup objects never die; frozen, full collections skip them
    # (bench/ingest.py measured them at about a tenth of the API's CPU, 70 ms a stall).
    gc.freeze()
    uvicorn.run(
        app,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level="warning",
        access_log=False,
    )
    return 0
