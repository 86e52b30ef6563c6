"""The worked examples: `starter.py preview` must reproduce examples/expected.json."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, REPO

SHARED_EXAMPLES = REPO.parent / "shared" / "examples"


def assert_contains(expected: object, actual: object, path: str = "$") -> None:
    """Every field that `expected` has is in `actual` with the same value (lists: same length)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}.{key}: missing"
            assert_contains(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), (
            f"{path}: {len(actual)} items, expected {len(expected)}"
        )
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_contains(want, got, f"{path}[{index}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def run_preview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "starter.py", "preview", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_preview_matches_expected_output_on_every_field() -> None:
    result = run_preview("--book", "examples/book.toml", "--events", "examples/events.jsonl")
    assert result.returncode == 0, result.stderr
    expected = json.loads((EXAMPLES / "expected.json").read_text())
    assert_contains(expected, json.loads(result.stdout))


def test_golden_comparison_notices_a_wrong_amount() -> None:
    expected = json.loads((EXAMPLES / "expected.json").read_text())
    tampered = json.loads(json.dumps(expected))
    tampered["tickets"][0]["lines"][0]["amount"] = "47.49"
    with pytest.raises(AssertionError, match="amount"):
        assert_contains(expected, tampered)


def test_every_line_and_hold_is_explained() -> None:
    result = run_preview("--book", "examples/book.toml", "--events", "examples/events.jsonl")
    for ticket in json.loads(result.stdout)["tickets"]:
        for line in ticket["lines"]:
            assert line["explanation"], f"{ticket['ticket_id']} {line['source_id']}"
            assert line["description"]
        for exception in ticket["exceptions"]:
            assert exception["message"]
        for approval in ticket["approvals_required"]:
            assert approval["reason"]


@pytest.mark.skipif(not SHARED_EXAMPLES.is_dir(), reason="no ../shared/examples beside the repo")
@pytest.mark.parametrize("name", ["book.toml", "events.jsonl", "expected.json"])
def test_repository_examples_are_the_shared_contract(name: str) -> None:
    assert (EXAMPLES / name).read_bytes() == (SHARED_EXAMPLES / name).read_bytes()
