"""Text from people and the help desk made inert in the Markdown the Temporal UI renders: a
ticket subject, a dispute or decline reason, a person's name or a hold message shows as the
text it is and cannot become a link, an image, emphasis or a heading.

The UI renders a workflow's summary, static details and current details as CommonMark (with
GFM tables; raw HTML and images are dropped). Every ASCII punctuation character may be
backslash-escaped there, and an escaped one is shown as itself, so the rendered text reads
exactly as it was written; only the raw text (``temporal workflow describe``) shows the
backslashes. Escaping ``[``, ``]``, ``(`` and ``)`` stops links, ``<`` and ``>`` autolinks and
HTML, and ``:`` and ``.`` a renderer that links bare ``http://…`` or ``www.…`` (the UI's does
not today, other renderers do). Line breaks become spaces: a value cannot start a block (a
heading, a list, a code block, a table row) of its own.

Only interpolated values are escaped, never our own wording (``**held**``).
"""

from __future__ import annotations

MARKDOWN_SPECIALS = frozenset("\\`*_{}[]()#+-.!|<>~=&:")


def escape_markdown(text: str) -> str:
    """``text`` as literal Markdown: each special character backslash-escaped, on one line."""
    flat = " ".join(text.splitlines())
    return "".join("\\" + char if char in MARKDOWN_SPECIALS else char for char in flat)
