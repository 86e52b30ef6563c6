"""Argument types the commands share (light: ``preview`` imports this and nothing heavy)."""

from __future__ import annotations

import argparse
from datetime import date


def day(text: str) -> date:
    """A ``--from``/``--to`` day, refused by argparse (exit 2, the option named) if not one."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None
