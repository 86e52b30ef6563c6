"""Text made inert for the Temporal UI's Markdown (billing/markdown.py), checked by rendering it
with a CommonMark renderer, as the UI does (CommonMark with GFM tables): no link, image,
emphasis or block appears, and the text shows as it was written, on one line."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from billing.markdown import escape_markdown

RENDER = MarkdownIt("commonmark").enable("table")
MARKUP = re.compile(r"<(?!/?p>)[a-z]")  # any element but the one paragraph


def rendered(value: str) -> str:
    """Our wording around the value, as in the ticket's current details."""
    return RENDER.render(f"**held**: Disputed: «{escape_markdown(value)}» (end)")


def shown_text(value: str) -> str:
    page = rendered(value)
    before, after = "<p><strong>held</strong>: Disputed: «", "» (end)</p>\n"
    assert page.startswith(before) and page.endswith(after), page
    return html.unescape(page.removeprefix(before).removesuffix(after))


@pytest.mark.parametrize(
    "value",
    [
        "[click](http://evil)",
        "[click][1]\n\n[1]: http://evil",
        "<http://evil>",
        "<mallory@evil.example>",
        "![x](http://evil/pixel.png)",
        "*bold* _em_ `code` ~~gone~~",
        "# heading",
        "line one\n# heading\n- item\n> quote\n    code\n1. one\n---",
        "| a | b |\n|---|---|\n| c | d |",
        "a\\",
        "&lt;script&gt; &amp; &#x5B;",
        "<img src=x onerror=alert(1)>",
        "http://evil.example/a_b_c and www.evil.example",
    ],
)
def test_hostile_text_renders_as_the_text_it_is(value: str) -> None:
    page = rendered(value)
    assert not MARKUP.search(page.replace("<strong>", "").replace("</strong>", "")), page
    assert shown_text(value) == " ".join(value.splitlines())


def test_our_own_wording_is_not_escaped_and_plain_text_reads_the_same() -> None:
    assert escape_markdown("Customer disagrees") == "Customer disagrees"
    assert escape_markdown("maria") == "maria"
    assert escape_markdown("[x](http://e)") == "\\[x\\]\\(http\\://e\\)"
    assert escape_markdown("two\nlines") == "two lines"


ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
MARKDOWN_HEAVY = st.text(st.sampled_from(list("\\`*_{}[]()#+-.!|<>~=&:;/\"' \n\t\rax1")))


@given(st.one_of(ANY_TEXT, MARKDOWN_HEAVY))
def test_any_text_shows_as_itself_without_markup(value: str) -> None:
    page = rendered(value)
    assert not MARKUP.search(page.replace("<strong>", "").replace("</strong>", "")), page
    assert shown_text(value) == " ".join(value.splitlines())
