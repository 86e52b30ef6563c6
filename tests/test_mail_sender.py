"""E-mail out (connectors/mail.py) against a real SMTP server on loopback (aiosmtpd): what
arrives, STARTTLS/TLS and AUTH, the refusals that a retry fixes and those it does not, and the
HDB_SMTP_URL forms that are refused at start."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.mail import (
    MailConfig,
    MailRejected,
    MailUnavailable,
    OutgoingMail,
    build_message,
    mail_config,
    message_id_header,
    send_mail,
)
from connectors.selection import ConnectorSetupError
from settings import Settings
from tests.mail_fixtures import StartMailServer
from tests.mail_server import free_port

SENDER = "Helpdesk Billing <billing@msp.example>"
MAIL = OutgoingMail(
    message_id="notice:support:42",
    to=("sam@msp.example",),
    subject="3 tickets held for support",
    text="T-1001 is held: no contract.\n",
    html="<p><b>T-1001</b> is held: no contract.</p>",
)


def settings(tmp_path: Path, url: str | None, **more: object) -> Settings:
    environ = {"HDB_SECRETS_DIR": str(tmp_path / "secrets"), "HDB_MAIL_FROM": SENDER}
    if url is not None:
        environ["HDB_SMTP_URL"] = url
    environ.update({f"HDB_{name.upper()}": str(value) for name, value in more.items()})
    return Settings.from_environment(environ)


def config_for(tmp_path: Path, url: str, **more: object) -> MailConfig:
    config = mail_config(settings(tmp_path, url, **more))
    assert config is not None
    return config


# ---- delivery -----------------------------------------------------------------------------------


def test_unset_url_means_no_mail(tmp_path: Path) -> None:
    assert mail_config(settings(tmp_path, None)) is None


def test_plain_loopback_delivery_of_text_and_html(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    server = mail_server()
    config = config_for(tmp_path, f"smtp://127.0.0.1:{server.port}")
    # smtp:// on loopback: STARTTLS when offered, the clear otherwise (this server offers none).
    assert config.security == "starttls" and not config.starttls_required

    send_mail(config, MAIL)

    (received,) = server.wait_for(1)
    assert received.mail_from == "billing@msp.example"
    assert received.rcpt_tos == ("sam@msp.example",)
    assert not received.tls and received.authenticated_as is None
    message = received.message
    assert message["Message-ID"] == "<notice-support-42@helpdesk-billing>"  # ':' is no atext
    assert message["From"] == SENDER
    assert message["To"] == "sam@msp.example"
    assert message["Subject"] == "3 tickets held for support"
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content() == MAIL.text
    assert message.get_body(("html",)).get_content().strip() == MAIL.html


def test_text_only_mail_is_not_multipart(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    server = mail_server()
    config = config_for(tmp_path, f"smtp+plain://127.0.0.1:{server.port}")
    send_mail(config, dataclasses.replace(MAIL, html=None, to=("a@x.example", "b@x.example")))
    (received,) = server.wait_for(1)
    assert received.message.get_content_type() == "text/plain"
    assert received.rcpt_tos == ("a@x.example", "b@x.example")


def test_message_id_is_made_header_safe() -> None:
    assert message_id_header("signoff:T-1001/r2 <x>") == "<signoff-T-1001/r2--x-@helpdesk-billing>"
    assert message_id_header("..a..b..") == "<a.b@helpdesk-billing>"
    with pytest.raises(ValueError, match="message_id"):
        message_id_header("...")


def test_starttls_with_auth_and_the_password_from_the_secrets_file(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    server = mail_server(starttls=True, auth=("billing-bot", "s3cret-pw"))
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "smtp_password").write_text("s3cret-pw\n")
    config = dataclasses.replace(
        config_for(tmp_path, f"smtp://billing%2Dbot@127.0.0.1:{server.port}"),
        tls_context=server.client_context(),
    )
    assert config.username == "billing-bot" and config.password == "s3cret-pw"
    assert "s3cret-pw" not in repr(config)

    send_mail(config, MAIL)

    (received,) = server.wait_for(1)
    assert received.tls and received.authenticated_as == "billing-bot"


def test_a_wrong_password_is_rejected_without_saying_it(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    server = mail_server(starttls=True, auth=("billing-bot", "right-one"))
    config = dataclasses.replace(
        config_for(tmp_path, f"smtp://billing-bot@127.0.0.1:{server.port}", smtp_password="wrong"),
        tls_context=server.client_context(),
    )
    with pytest.raises(MailRejected, match="535") as refused:
        send_mail(config, MAIL)
    assert "HDB_SMTP_PASSWORD" in str(refused.value)
    assert "wrong" not in str(refused.value)
    assert server.messages() == []


def test_an_untrusted_certificate_is_unavailable_not_sent_in_the_clear(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    server = mail_server(starttls=True)
    config = config_for(tmp_path, f"smtp://127.0.0.1:{server.port}")  # the system's CAs only
    with pytest.raises(MailUnavailable, match=r"TLS .* failed"):
        send_mail(config, MAIL)
    assert server.messages() == []


def test_implicit_tls(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    server = mail_server(tls=True, auth=("billing-bot", "pw"))
    config = dataclasses.replace(
        config_for(tmp_path, f"smtps://billing-bot@127.0.0.1:{server.port}", smtp_password="pw"),
        tls_context=server.client_context(),
    )
    assert config.security == "tls"
    send_mail(config, MAIL)
    (received,) = server.wait_for(1)
    assert received.tls and received.authenticated_as == "billing-bot"


def test_starttls_is_required_for_another_machine(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    remote = config_for(tmp_path, "smtp://relay.msp.example")
    assert (remote.host, remote.port, remote.security) == ("relay.msp.example", 587, "starttls")
    assert remote.starttls_required
    # A server without STARTTLS, treated as another machine would be: nothing goes in the clear.
    server = mail_server()
    config = dataclasses.replace(remote, host="127.0.0.1", port=server.port)
    with pytest.raises(MailRejected, match="does not offer STARTTLS"):
        send_mail(config, MAIL)
    assert server.messages() == []


def test_a_password_in_the_clear_to_another_machine_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConnectorSetupError, match=r"HDB_SMTP_URL.*unencrypted") as refused:
        mail_config(settings(tmp_path, "smtp+plain://bot@relay.example:25", smtp_password="pw"))
    assert "pw" not in str(refused.value).replace("HDB_SMTP_PASSWORD", "")
    # The same to a relay on this machine is what smtp+plain is for.
    assert config_for(tmp_path, "smtp+plain://bot@localhost:25", smtp_password="pw").port == 25


# ---- refusals -----------------------------------------------------------------------------------


def test_a_refused_recipient_is_rejected(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    server = mail_server(refuse_rcpt={"gone@msp.example"})
    config = config_for(tmp_path, f"smtp://127.0.0.1:{server.port}")
    with pytest.raises(MailRejected, match="550") as refused:
        send_mail(config, dataclasses.replace(MAIL, to=("gone@msp.example",)))
    assert set(refused.value.refused) == {"gone@msp.example"}
    assert server.messages() == []


def test_some_recipients_refused_says_who_got_it(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    server = mail_server(refuse_rcpt={"gone@msp.example"})
    config = config_for(tmp_path, f"smtp://127.0.0.1:{server.port}")
    with pytest.raises(MailRejected, match="550") as refused:
        send_mail(config, dataclasses.replace(MAIL, to=("sam@msp.example", "gone@msp.example")))
    assert refused.value.delivered_to == ("sam@msp.example",)
    assert server.wait_for(1)[0].rcpt_tos == ("sam@msp.example",)


def test_a_deferred_data_is_unavailable_and_the_retry_goes_through(
    tmp_path: Path,
    mail_server: StartMailServer,
) -> None:
    server = mail_server(fail_data=1)
    config = config_for(tmp_path, f"smtp://127.0.0.1:{server.port}")
    with pytest.raises(MailUnavailable, match="451"):
        send_mail(config, MAIL)
    assert server.messages() == []
    send_mail(config, MAIL)
    assert len(server.wait_for(1)) == 1


def test_connection_refused_is_unavailable(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"smtp://127.0.0.1:{free_port()}")
    with pytest.raises(MailUnavailable, match=r"cannot reach the mail server 127\.0\.0\.1"):
        send_mail(config, MAIL)


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("subject", {"subject": "Held\r\nBcc: everyone@example.com"}),
        ("to", {"to": ("sam@msp.example\nBcc: everyone@example.com",)}),
        ("to", {"to": ()}),
        ("to", {"to": ("not an address",)}),
    ],
)
def test_header_injection_and_bad_addresses_are_refused(
    tmp_path: Path, field: str, change: dict[str, object]
) -> None:
    config = config_for(tmp_path, "smtp://127.0.0.1:2525")
    with pytest.raises(ValueError, match=f"^{field}:"):
        build_message(config, dataclasses.replace(MAIL, **change))  # type: ignore[arg-type]


# ---- configuration ------------------------------------------------------------------------------


def test_url_forms_and_their_defaults(tmp_path: Path) -> None:
    tls = config_for(tmp_path, "smtps://mail.example", smtp_timeout="12s")
    assert (tls.port, tls.security, tls.timeout) == (465, "tls", 12.0)
    assert tls.sender == SENDER
    starttls = config_for(tmp_path, "smtp://a%40b@mail.example:2587", smtp_password="pw")
    assert (starttls.username, starttls.port, starttls.security) == ("a@b", 2587, "starttls")
    plain = config_for(tmp_path, "smtp+plain://relay.internal:25")
    assert (plain.security, plain.username, plain.password) == ("none", None, None)
    assert config_for(tmp_path, "smtp://[::1]:25").starttls_required is False


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://mail.example", "scheme 'http'"),
        ("mail.example:25", "scheme"),
        ("smtp://", "no host"),
        ("smtp://mail.example:99999", "port"),
        ("smtp://mail.example:abc", "port"),
        ("smtp+plain://relay.example", "needs its port"),
        ("smtp://bot:hunter2@mail.example", "holds a password"),
        ("smtp://mail.example/inbox", "path"),
        ("smtp://mail.example\r\n", "space or line break"),
    ],
)
def test_bad_urls_are_a_clear_error_naming_the_variable(
    tmp_path: Path, url: str, says: str
) -> None:
    with pytest.raises(ConnectorSetupError, match="HDB_SMTP_URL") as refused:
        mail_config(settings(tmp_path, url))
    assert says in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_user_and_password_go_together(tmp_path: Path) -> None:
    with pytest.raises(ConnectorSetupError, match="HDB_SMTP_PASSWORD"):
        mail_config(settings(tmp_path, "smtp://bot@mail.example"))
    with pytest.raises(ConnectorSetupError, match="names no user"):
        mail_config(settings(tmp_path, "smtp://mail.example", smtp_password="pw"))


def test_a_bad_sender_names_hdb_mail_from(tmp_path: Path) -> None:
    with pytest.raises(ConnectorSetupError, match="HDB_MAIL_FROM"):
        mail_config(settings(tmp_path, "smtp://mail.example", mail_from="billing"))


def test_the_timeout_comes_from_the_settings(tmp_path: Path) -> None:
    config = mail_config(
        Settings(
            smtp_url="smtp://mail.example",
            smtp_timeout=timedelta(seconds=3),
            secrets_dir=tmp_path,
        )
    )
    assert config is not None and config.timeout == 3.0
