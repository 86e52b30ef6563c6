"""People's numbers on the command line: beyond the book's limits is exit 2 naming the option
and the field, before anything is sent (argparse reads them; no Temporal is needed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cli.ticket_commands import line_edit_argument
from messages.ticket import LineEditInput
from tests.test_bad_input_cli import run_cli

WHO = ("--reason", "typo")
OUT_OF_RANGE = "is out of range: use at most 12 digits before the decimal point and 6 after it"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("1E+20", f"'100000000000000000000' {OUT_OF_RANGE}"),
        ("1E+999999", f"'1E+999999' {OUT_OF_RANGE}"),
        ("0.0000001", f"'0.0000001' {OUT_OF_RANGE}"),
        ("NaN", "'NaN' is not a finite number"),
        ("-Infinity", "'-Infinity' is not a finite number"),
        ("-1", "must not be negative, got '-1'"),
        ("ten", "'ten' is not a number like"),
    ],
)
@pytest.mark.parametrize("field", ["quantity", "unit_price"])
@pytest.mark.parametrize(
    "command",
    [("review", "T-1", "--action", "edit"), ("resolve-dispute", "T-1", "--outcome", "adjust")],
)
def test_a_line_edit_beyond_the_limits_is_exit_2_naming_the_option_and_field(
    command: tuple[str, ...], field: str, value: str, says: str
) -> None:
    line = f"te-1:{field}={value}"
    result = run_cli(*command, "--line", line, *WHO)
    assert result.code == 2, result.err
    assert f"error: argument --line: {line!r}: {field}: {says}" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("command", ["approve", "signoff", "review"])
def test_a_total_beyond_the_limits_is_exit_2_naming_the_option(command: str) -> None:
    result = run_cli(command, "T-1", "--total", "1E+20", *WHO)
    assert result.code == 2, result.err
    assert f"error: argument --total: '100000000000000000000' {OUT_OF_RANGE}" in result.err


def test_a_line_edit_at_the_limits_is_read() -> None:
    edit = line_edit_argument("te-1:quantity=0.000001:unit_price=999999999999.999999")
    assert edit == LineEditInput("te-1", Decimal("0.000001"), Decimal("999999999999.999999"))
