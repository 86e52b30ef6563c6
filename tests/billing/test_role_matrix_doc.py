"""The README's role matrix is the one the code enforces."""

from __future__ import annotations

from pathlib import Path

from billing.roles import role_matrix_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_shows_the_enforced_role_matrix() -> None:
    assert role_matrix_markdown() in README.read_text(), (
        "billing/roles.py changed: paste role_matrix_markdown() into the README"
    )
