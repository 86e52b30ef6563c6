"""A ticket id outside the alphabet (billing/ticket_ids.py) is refused where people type one:
the ticket API's paths (422 naming ``path.ticket_id``, on a real uvicorn, before any Temporal
call) and the command line's TICKET argument (exit 2 naming it, before anything is sent)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from billing.roles import Role
from tests.live.api_server import ServedStore, served_examples
from tests.test_bad_input_cli import run_cli

HOSTILE_IDS = {
    "../review/RT-X1b": "has '/'",
    "\u0422-1010": "U+0422, CYRILLIC CAPITAL LETTER TE",
    "T..1": "has '..'",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedStore]:
    with served_examples(tmp_path_factory.mktemp("ticket-ids")) as served:
        yield served


# An encoded '/' never reaches the route (the path is decoded first, so it does not match: 404);
# an encoded '..' does.
@pytest.mark.parametrize("ticket_id", ["\u0422-1010", "T..1", "%2E%2E"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/tickets/{}", None),
        ("POST", "/api/tickets/{}/approve", {"reason": "agreed"}),
        ("POST", "/api/tickets/{}/signoff-link", None),
    ],
)
def test_the_api_refuses_a_path_ticket_id_outside_the_alphabet(
    site: ServedStore, ticket_id: str, method: str, path: str, body: dict | None
) -> None:
    headers = {"Authorization": f"Bearer {site.token(Role.MANAGER)}"}
    url = site.url + path.format(quote(ticket_id, safe="%"))
    response = httpx.request(method, url, json=body, headers=headers, timeout=30)
    assert response.status_code == 422, response.text
    [problem] = response.json()["problems"]
    assert problem["field"] == "path.ticket_id"
    assert problem["message"].startswith(f"{ticket_id.replace('%2E', '.')!r} ")


def test_a_refused_path_ticket_id_needs_a_token_first(site: ServedStore) -> None:
    response = httpx.get(f"{site.url}/api/tickets/{quote(chr(0x422))}-1010", timeout=30)
    assert response.status_code == 401


@pytest.mark.parametrize(("ticket_id", "says"), HOSTILE_IDS.items())
@pytest.mark.parametrize("command", ["show", "approve", "rerate", "dispute"])
def test_the_cli_refuses_a_ticket_argument_outside_the_alphabet(
    command: str, ticket_id: str, says: str
) -> None:
    result = run_cli(command, ticket_id)
    assert result.code == 2, result.err
    assert "argument TICKET:" in result.err and says in result.err, result.err
    assert "Traceback" not in result.err
