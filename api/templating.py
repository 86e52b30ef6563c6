"""Server-rendered pages: Jinja2 with autoescaping on for every template (notes and
descriptions come from the help desk and may contain markup)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def thousands(count: int) -> str:
    """A count for people: ``1,000 matching``, as amounts are written (``1,200.00 USD``)."""
    return f"{count:,}"


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"], default=True),
)
_environment.filters["thousands"] = thousands
templates = Jinja2Templates(env=_environment)
