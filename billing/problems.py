"""Turns validation failures into messages people can act on: the key path, then the problem.

Pydantic's own messages are precise but written for programmers ("Input should be a valid
integer, unable to parse string as an integer"); billing clerks and help desk admins read ours.
Values are quoted briefly so a message never dumps a whole note into a log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

_MAX_SHOWN_VALUE = 40


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, located by its key path (``contracts[2].type``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def key_path(loc: Iterable[str | int]) -> str:
    """``('contracts', 2, 'type')`` → ``contracts[2].type``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def shown(value: object) -> str:
    """A short, quoted rendering of an input value for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    if len(text) > _MAX_SHOWN_VALUE:
        text = text[: _MAX_SHOWN_VALUE - 1] + "…"
    return text


def _expected_choices(error: ErrorDetails) -> str:
    expected = str((error.get("ctx") or {}).get("expected", ""))
    choices = re.findall(r"'([^']*)'", expected)
    return ", ".join(choices) if choices else expected


def describe(error: ErrorDetails) -> str:
    """One pydantic error as a sentence about the value, without the location."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against the documented format)"
    if kind in ("literal_error", "enum"):
        return f"{shown(value)} is not one of {_expected_choices(error)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {shown(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {shown(value)}"
    if kind in ("string_type",):
        return f"expected text, got {shown(value)}"
    if kind in ("dict_type", "model_type", "dataclass_type", "model_attributes_type"):
        return f"expected a table of keys, got {shown(value)}"
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"expected a list, got {shown(value)}"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}, got {shown(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, got {shown(value)}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, got {shown(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind == "string_pattern_mismatch":
        return f"{shown(value)} is not allowed here"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"]


def problems_from(error: ValidationError, *, prefix: Iterable[str | int] = ()) -> list[Problem]:
    """Every error of a ValidationError, each located by its full key path."""
    prefix = tuple(prefix)
    return [
        Problem(key_path(prefix + tuple(detail["loc"])), describe(detail))
        for detail in error.errors(include_url=False)
    ]
