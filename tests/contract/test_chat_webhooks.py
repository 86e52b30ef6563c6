"""Slack and Teams incoming-webhook contract: the exact JSON we post (golden files), Slack's
escaping, the cuts at each service's limits, and how each answer maps to a retry or a refusal,
with the webhook URL (a secret) in no error."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from connectors.chat import (
    SLACK_HEADER_MAX,
    SLACK_MAX_BLOCKS,
    SLACK_SECTION_MAX,
    TEAMS_MAX_LINES,
    ChatMessage,
    ChatRejected,
    ChatUnavailable,
    chat_webhooks,
    post_chat,
    slack_payload,
    teams_payload,
)
from connectors.selection import ConnectorSetupError
from settings import Settings
from tests.contract.conftest import Recorder, fixture

SLACK_URL = "https://hooks.slack.com/services/T0001/B0002/XXXXsecretXXXXtokenXXXX"
TEAMS_URL = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b2c3d/triggers/manual/paths/"
    "invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S3cr3tSignature"
)
URLS = {"slack": SLACK_URL, "teams": TEAMS_URL}
SAMPLE = ChatMessage(
    title="3 tickets held for billing",
    lines=(
        "T-1001 Acme Dental: no contract covers 2026-11-24 (held 2 days)",
        "T-1007 Cedar Clinic: customer changed after posting <CUST-9003> & needs review",
        "T-1010 Birch & Co: rate missing for work type onsite",
    ),
    link="https://billing.msp.example/queues/billing?owner=billing&sort=age",
    link_label="Open the billing queue",
)


def post(kind: str, *answers: httpx.Response, message: ChatMessage = SAMPLE) -> Recorder:
    recorder = Recorder(list(answers))
    with httpx.Client(transport=recorder.transport()) as client:
        post_chat(client, kind, URLS[kind], message)  # type: ignore[arg-type]
    return recorder


# ---- the JSON we send ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "golden"),
    [("slack", "chat/slack_sample_request.json"), ("teams", "chat/teams_sample_request.json")],
)
def test_the_request_is_the_golden_json(kind: str, golden: str) -> None:
    recorder = post(kind, httpx.Response(200, text="ok" if kind == "slack" else "1"))
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.url == httpx.URL(URLS[kind])
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == fixture(golden)


def test_slack_escapes_its_control_characters_everywhere_people_text_goes() -> None:
    message = ChatMessage(
        title="<!channel> T-1 & <https://evil.example|click>",
        lines=("<@U123> pay <https://evil.example|here> & now",),
        link="https://billing.msp.example/t?a=1&b=<2>|3",
        link_label="Open <this> & that",
    )
    payload = slack_payload(message)
    # mrkdwn (the fallback text and the sections) is where Slack parses links and mentions.
    mrkdwn = json.dumps(
        [payload["text"], *(block["text"]["text"] for block in payload["blocks"][1:])]
    )
    assert "<!channel>" not in mrkdwn and "<@U123>" not in mrkdwn and "<https://evil" not in mrkdwn
    assert payload["text"] == "&lt;!channel&gt; T-1 &amp; &lt;https://evil.example|click&gt;"
    assert payload["blocks"][1]["text"]["text"] == (
        "&lt;@U123&gt; pay &lt;https://evil.example|here&gt; &amp; now"
    )
    # The only link is ours, its URL escaped and its '|' encoded so the label cannot move.
    assert payload["blocks"][2]["text"]["text"] == (
        "<https://billing.msp.example/t?a=1&amp;b=&lt;2&gt;%7C3|Open &lt;this&gt; &amp; that>"
    )
    # A header is plain_text, which Slack parses for nothing: shown as written, not escaped.
    assert payload["blocks"][0]["text"] == {"type": "plain_text", "text": message.title}


def test_teams_text_is_plain_text_runs_never_markdown() -> None:
    message = ChatMessage(title="[click](https://evil.example)", lines=("**x** <b>",), link=None)
    card = teams_payload(message)["attachments"][0]["content"]
    runs = [block["inlines"][0] for block in card["body"]]
    assert {block["type"] for block in card["body"]} == {"RichTextBlock"}
    assert [run["type"] for run in runs] == ["TextRun", "TextRun"]
    assert [run["text"] for run in runs] == ["[click](https://evil.example)", "**x** <b>"]
    assert "actions" not in card


def test_a_link_that_is_not_http_is_refused() -> None:
    bad = ChatMessage(title="x", lines=(), link="javascript:alert(1)")
    for build in (slack_payload, teams_payload):
        with pytest.raises(ValueError, match=r"^link:"):
            build(bad)
    with pytest.raises(ValueError, match=r"^title:"):
        slack_payload(ChatMessage(title="  ", lines=(), link=None))


# ---- limits -------------------------------------------------------------------------------------


def test_slack_cuts_at_50_blocks_and_3000_characters_and_counts_the_rest() -> None:
    lines = tuple(f"T-{n:04d} " + "x" * 92 for n in range(2000))  # 100 characters each
    message = ChatMessage(title="T" * 200, lines=lines, link="https://billing.msp.example/q")
    blocks = slack_payload(message)["blocks"]
    assert len(blocks) == SLACK_MAX_BLOCKS
    header, *sections, link = blocks
    assert header["text"]["text"] == "T" * (SLACK_HEADER_MAX - 1) + "…"
    assert link["text"]["text"] == "<https://billing.msp.example/q|Open>"
    texts = [section["text"]["text"] for section in sections]
    assert all(len(text) <= SLACK_SECTION_MAX for text in texts)
    shown = sum(len(text.split("\n")) for text in texts) - 1
    last = texts[-1].split("\n")[-1]
    assert last == f"… and {len(lines) - shown} more"
    # Every line shown is whole and in order.
    assert "\n".join(texts).split("\n")[:-1] == list(lines[:shown])


def test_slack_few_lines_are_not_cut_and_one_long_line_is() -> None:
    short = slack_payload(ChatMessage(title="t", lines=("a", "b"), link=None))
    assert short["blocks"][1:] == [{"type": "section", "text": {"type": "mrkdwn", "text": "a\nb"}}]
    long_line = "&" * 5000  # 25,000 characters escaped
    (section,) = slack_payload(ChatMessage(title="t", lines=(long_line,), link=None))["blocks"][1:]
    text = section["text"]["text"]
    assert len(text) <= SLACK_SECTION_MAX and text.endswith("&amp;…")


def test_teams_cuts_at_50_lines_and_counts_the_rest() -> None:
    lines = tuple(f"line {n}" for n in range(60))
    body = teams_payload(ChatMessage(title="t", lines=lines, link=None))["attachments"][0][
        "content"
    ]["body"]
    texts = [block["inlines"][0]["text"] for block in body[1:]]
    assert len(texts) == TEAMS_MAX_LINES
    assert texts[:-1] == list(lines[:49]) and texts[-1] == "… and 11 more"
    exactly = tuple(f"line {n}" for n in range(TEAMS_MAX_LINES))
    body = teams_payload(ChatMessage(title="t", lines=exactly, link=None))["attachments"][0][
        "content"
    ]["body"]
    assert [block["inlines"][0]["text"] for block in body[1:]] == list(exactly)


def test_teams_stays_under_its_28_kb_message_limit() -> None:
    lines = tuple("y" * 4000 for _ in range(40))
    payload = teams_payload(ChatMessage(title="t", lines=lines, link="https://x.example/"))
    assert len(json.dumps(payload).encode()) < 28 * 1024


# ---- answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("slack", httpx.Response(200, text="ok")),
        ("teams", httpx.Response(200, text="1")),  # an Office 365 connector webhook
        ("teams", httpx.Response(202)),  # a Workflows webhook: accepted, run later
    ],
)
def test_a_2xx_is_delivered(kind: str, answer: httpx.Response) -> None:
    assert len(post(kind, answer).requests) == 1


def test_429_with_retry_after_is_unavailable_with_the_delay() -> None:
    with pytest.raises(ChatUnavailable, match="429") as raised:
        post("slack", httpx.Response(429, headers={"Retry-After": "30"}, text="rate_limited"))
    assert raised.value.retry_after == 30.0
    assert "retry after 30 s" in str(raised.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_unavailable(status: int) -> None:
    body = fixture("chat/slack_error_bodies.json")["500"]
    with pytest.raises(ChatUnavailable, match=str(status)) as raised:
        post("slack", httpx.Response(status, text=body))
    assert raised.value.retry_after is None


@pytest.mark.parametrize("status", ["400", "403", "404", "410"])
def test_slack_refusals_are_rejected_with_slacks_reason(status: str) -> None:
    body = fixture("chat/slack_error_bodies.json")[status]
    with pytest.raises(ChatRejected, match=f"{status} \\({body}\\)"):
        post("slack", httpx.Response(int(status), text=body))


def test_a_removed_teams_webhook_is_rejected() -> None:
    with pytest.raises(ChatRejected, match=r"Teams webhook on prod-12\.westeurope.*404"):
        post("teams", httpx.Response(404, json={"error": {"code": "WorkflowNotFound"}}))


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("timed out"), httpx.ConnectTimeout("timed out")],
)
def test_a_timeout_is_unavailable(failure: Exception) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(ChatUnavailable, match="did not answer in time"):
        post("slack", hang)  # type: ignore[arg-type]


def test_no_connection_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connection refused to {request.url}")

    with pytest.raises(
        ChatUnavailable, match=r"cannot reach the Slack webhook on hooks\.slack\.com"
    ):
        post("slack", refuse)  # type: ignore[arg-type]


def _every_failure(kind: str) -> list[httpx.Response | object]:
    url = URLS[kind]

    def echo_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out posting to {url}")

    def echo_refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused: {url}")

    return [
        httpx.Response(429, text=f"slow down {url}"),
        httpx.Response(500, text=f"error at {url}"),
        httpx.Response(400, text=f"bad payload for {url}"),
        httpx.Response(404, text=f"no webhook {httpx.URL(url).path}"),
        httpx.Response(410, text=f"gone {httpx.URL(url).query.decode()}"),
        echo_timeout,
        echo_refused,
    ]


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_no_error_holds_the_webhook_url(kind: str) -> None:
    url = httpx.URL(URLS[kind])
    secrets = [str(url), url.path, url.query.decode(), "XXXXsecretXXXXtokenXXXX", "S3cr3tSig"]
    for failure in _every_failure(kind):
        with pytest.raises((ChatUnavailable, ChatRejected)) as raised:
            post(kind, failure)  # type: ignore[arg-type]
        error = raised.value
        said = f"{error} {error!r} {error.args} {error.__cause__!r} {error.__context__!r}"
        leaked = [secret for secret in secrets if secret and secret in said]
        assert not leaked, f"{said!r} leaks {leaked}"


# ---- settings -----------------------------------------------------------------------------------


def test_webhooks_come_from_settings_or_the_secrets_files(tmp_path: Path) -> None:
    (tmp_path / "teams_webhook_billing").write_text(TEAMS_URL + "\n")
    settings = Settings(secrets_dir=tmp_path, slack_webhook_billing=SLACK_URL)
    assert chat_webhooks(settings, "billing") == [("slack", SLACK_URL), ("teams", TEAMS_URL)]
    assert chat_webhooks(settings, "support") == []
    with pytest.raises(ValueError, match=r"^owner:"):
        chat_webhooks(settings, "everyone")


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.slack.com/services/T0001/B0002/XXXXsecretXXXXtokenXXXX",
        "hooks.slack.com/services/T0001/B0002/XXXXsecretXXXXtokenXXXX",
        "https:///services/XXXXsecretXXXXtokenXXXX",
        "https://hooks.slack.com/services/XXXXsecretXXXXtokenXXXX extra",
    ],
)
def test_a_bad_webhook_setting_names_the_variable_not_the_value(tmp_path: Path, url: str) -> None:
    settings = Settings(secrets_dir=tmp_path, slack_webhook_manager=url)
    with pytest.raises(ConnectorSetupError, match="HDB_SLACK_WEBHOOK_MANAGER") as raised:
        chat_webhooks(settings, "manager")
    assert "XXXXsecretXXXXtokenXXXX" not in str(raised.value)


def test_http_is_allowed_to_this_machine_only(tmp_path: Path) -> None:
    local = "http://127.0.0.1:8099/hook"
    settings = Settings(secrets_dir=tmp_path, teams_webhook_finance=local)
    assert chat_webhooks(settings, "finance") == [("teams", local)]
