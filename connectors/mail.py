"""E-mail out over SMTP (issue 16): the mail server from ``HDB_SMTP_URL`` checked once, and one
message handed to it, with errors that say whether a retry can help (``MailUnavailable``) or not
(``MailRejected``). What the notices say and when they go is the dispatcher's business, not this
module's.
"""

from __future__ import annotations

import ipaddress
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Literal
from urllib.parse import unquote, urlsplit

from connectors.selection import ConnectorSetupError, read_secret
from settings import Settings

Security = Literal["starttls", "tls", "none"]

# The schemes of HDB_SMTP_URL: (security, default port). smtp+plain has no default: a local
# relay's port is whatever it was given, and naming it keeps the choice deliberate.
_SCHEMES: dict[str, tuple[Security, int | None]] = {
    "smtp": ("starttls", 587),
    "smtps": ("tls", 465),
    "smtp+plain": ("none", None),
}
_URL_FORMS = "smtp://[user@]host[:587], smtps://[user@]host[:465] or smtp+plain://host:port"
# Message-ID's left part is a dot-atom (RFC 5322 3.6.4); anything else in our key becomes "-".
_NOT_ATOM = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")
MESSAGE_ID_DOMAIN = "helpdesk-billing"


@dataclass(frozen=True)
class MailConfig:
    """Where and how mail is handed over. ``starttls_required`` is False only for a loopback
    ``smtp://`` server, which may speak in the clear (nothing leaves the machine);
    ``tls_context`` overrides the system's trust store (tests trust their own CA with it)."""

    host: str
    port: int
    security: Security
    username: str | None
    password: str | None = field(repr=False)
    sender: str
    timeout: float
    starttls_required: bool = True
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class OutgoingMail:
    """One e-mail. ``message_id`` is our idempotency key (the outbox row): it becomes the
    Message-ID header, so a resend after a lost answer is recognisable as the same message."""

    message_id: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None


class MailUnavailable(Exception):
    """A transient failure (no connection, timeout, a 4xx answer, a TLS handshake that failed):
    the same message may be sent again later."""


class MailRejected(Exception):
    """The server refused the message for good (5xx, bad credentials, every recipient refused,
    no STARTTLS where it is required): sending it again changes nothing until a person fixes
    the address or the configuration. ``refused`` maps each refused recipient to the server's
    answer; ``delivered_to`` lists those who got it anyway (some recipients refused)."""

    def __init__(
        self,
        message: str,
        refused: dict[str, str] | None = None,
        delivered_to: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.refused = refused or {}
        self.delivered_to = delivered_to


# ---- configuration ------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine without asking DNS (``localhost``, 127.0.0.0/8, ::1)."""
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mail_config(settings: Settings) -> MailConfig | None:
    """The mail server of ``HDB_SMTP_URL``, or None when it is unset (nothing is e-mailed).
    Anything wrong is a ``ConnectorSetupError`` naming the variable, raised at start, never at
    the first send."""
    if not settings.smtp_url:
        return None
    host, port, security, username = _parse_smtp_url(settings.smtp_url)
    password = read_secret(settings, "smtp_password") or None
    loopback = is_loopback(host)
    if password and not username:
        raise ConnectorSetupError(
            "HDB_SMTP_PASSWORD (or the file smtp_password in HDB_SECRETS_DIR) is set but "
            "HDB_SMTP_URL names no user: write it as smtp://user@host"
        )
    if username and not password:
        raise ConnectorSetupError(
            f"HDB_SMTP_URL names the user {username!r}: set HDB_SMTP_PASSWORD "
            "(or the file smtp_password in HDB_SECRETS_DIR)"
        )
    if password and security == "none" and not loopback:
        # The password would cross the network in the clear.
        raise ConnectorSetupError(
            f"HDB_SMTP_URL: smtp+plain:// sends the password unencrypted to {host}; use "
            "smtp:// (STARTTLS) or smtps:// (TLS), or a relay on this machine"
        )
    return MailConfig(
        host=host,
        port=port,
        security=security,
        username=username,
        password=password,
        sender=_sender(settings.mail_from),
        timeout=settings.smtp_timeout.total_seconds(),
        starttls_required=not loopback,
    )


def _parse_smtp_url(url: str) -> tuple[str, int, Security, str | None]:
    def bad(why: str) -> ConnectorSetupError:
        # The URL itself is not repeated: a pasted password would land in the logs.
        return ConnectorSetupError(f"HDB_SMTP_URL {why}: write it as {_URL_FORMS}")

    if any(ch.isspace() for ch in url):
        raise bad("contains a space or line break")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise bad(f"has the scheme {scheme or 'none'!r}")
    security, default_port = _SCHEMES[scheme]
    if parts.password is not None:
        raise bad("holds a password; put it in HDB_SMTP_PASSWORD (or the secrets file)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad("has a path, query or fragment")
    host = parts.hostname
    if not host:
        raise bad("names no host")
    try:
        port = parts.port or default_port
    except ValueError:
        raise bad("has a port that is not a number from 1 to 65535") from None
    if port is None:
        raise bad("smtp+plain:// needs its port")
    username = unquote(parts.username) if parts.username else None
    if username is not None and any(ch in username for ch in "\r\n\0"):
        raise bad("has a control character in the user name")
    return host, port, security, username


def _sender(mail_from: str) -> str:
    _name, address = parseaddr(mail_from)
    if "\r" in mail_from or "\n" in mail_from or "@" not in address:
        raise ConnectorSetupError(
            f"HDB_MAIL_FROM {mail_from!r} is not an address: write it as "
            "'Name <billing@example.com>' or billing@example.com"
        )
    return mail_from


# ---- sending ------------------------------------------------------------------------------------


def message_id_header(message_id: str) -> str:
    """``<{key}@helpdesk-billing>``, the key made header-safe (a dot-atom)."""
    atom = re.sub(r"\.{2,}", ".", _NOT_ATOM.sub("-", message_id)).strip(".")
    if not atom:
        raise ValueError(f"message_id {message_id!r} has nothing usable in a Message-ID")
    return f"<{atom}@{MESSAGE_ID_DOMAIN}>"


def build_message(config: MailConfig, mail: OutgoingMail) -> EmailMessage:
    """The message as it goes on the wire: text, or multipart/alternative with the HTML.
    A line break in a header value (subject, addresses) would start a header of the sender's
    choosing, so it is refused, not folded away."""
    if not mail.to:
        raise ValueError("to: no recipient")
    for name, value in (("subject", mail.subject), ("from", config.sender), *_each("to", mail.to)):
        if "\r" in value or "\n" in value:
            raise ValueError(f"{name}: a line break in a mail header is refused ({value!r})")
    for address in mail.to:
        if "@" not in parseaddr(address)[1]:
            raise ValueError(f"to: {address!r} is not an e-mail address")
    message = EmailMessage()
    message["Message-ID"] = message_id_header(mail.message_id)
    # The time the message was written, as every mail client adds it; nothing reads it back.
    message["Date"] = formatdate(usegmt=True)
    message["From"] = config.sender
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


def _each(name: str, values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(name, value) for value in values]


def send_mail(config: MailConfig, mail: OutgoingMail) -> None:
    """Hand ``mail`` to the server of ``config``; returns once the server accepted it.

    Raises ``ValueError`` for a message that cannot be sent as written (a header line break),
    ``MailUnavailable`` when trying again later may work and ``MailRejected`` when it will not.
    No message says the password."""
    message = build_message(config, mail)
    envelope_from = parseaddr(config.sender)[1]
    recipients = [parseaddr(address)[1] for address in mail.to]
    where = f"the mail server {config.host}:{config.port}"
    try:
        with _connect(config) as smtp:
            _secure(smtp, config, where)
            if config.username:
                smtp.login(config.username, config.password or "")
            refused = smtp.send_message(message, envelope_from, recipients)
    except smtplib.SMTPRecipientsRefused as problem:
        answers = {rcpt: _answer(code, text) for rcpt, (code, text) in problem.recipients.items()}
        said = _scrub("; ".join(f"{rcpt}: {answer}" for rcpt, answer in answers.items()), config)
        if all(400 <= code < 500 for code, _text in problem.recipients.values()):
            raise MailUnavailable(f"{where} deferred every recipient ({said})") from None
        raise MailRejected(f"{where} refused every recipient ({said})", answers) from None
    except smtplib.SMTPAuthenticationError as problem:
        said = _scrub(_answer(problem.smtp_code, problem.smtp_error), config)
        if 400 <= problem.smtp_code < 500:
            raise MailUnavailable(f"{where} could not log in now ({said})") from None
        raise MailRejected(
            f"{where} refused the login of {config.username!r} ({said}): check "
            "HDB_SMTP_PASSWORD (or the file smtp_password) and the user in HDB_SMTP_URL"
        ) from None
    except smtplib.SMTPResponseException as problem:
        # MAIL FROM, DATA, HELO or the greeting answered with an error code.
        said = _scrub(_answer(problem.smtp_code, problem.smtp_error), config)
        if 400 <= problem.smtp_code < 500:
            raise MailUnavailable(f"{where} answered {said}: try again later") from None
        raise MailRejected(f"{where} refused the message: {said}") from None
    except smtplib.SMTPNotSupportedError as problem:
        raise MailRejected(f"{where}: {problem}") from None
    except smtplib.SMTPServerDisconnected as problem:
        raise MailUnavailable(f"{where} closed the connection ({problem})") from None
    except ssl.SSLError as problem:
        # A certificate that does not verify, or a handshake that failed.
        raise MailUnavailable(
            f"TLS with {where} failed ({_scrub(_tls_reason(problem), config)})"
        ) from None
    except TimeoutError:
        raise MailUnavailable(f"{where} did not answer within {config.timeout:g} s") from None
    except OSError as problem:
        # Refused, reset, unreachable, unknown host: the network or the server is down.
        reason = problem.strerror or type(problem).__name__
        raise MailUnavailable(f"cannot reach {where}: {reason}") from None
    if refused:
        answers = {rcpt: _answer(code, text) for rcpt, (code, text) in refused.items()}
        delivered = tuple(r for r in recipients if r not in refused)
        raise MailRejected(
            f"{where} accepted the message for {', '.join(delivered)} but refused "
            + _scrub("; ".join(f"{rcpt}: {answer}" for rcpt, answer in answers.items()), config),
            answers,
            delivered,
        )


def _connect(config: MailConfig) -> smtplib.SMTP:
    if config.security == "tls":
        return smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=_tls_context(config)
        )
    return smtplib.SMTP(config.host, config.port, timeout=config.timeout)


def _secure(smtp: smtplib.SMTP, config: MailConfig, where: str) -> None:
    """STARTTLS when the URL asks for it: required to leave the machine, taken when offered on
    loopback."""
    if config.security != "starttls":
        return
    smtp.ehlo()
    if smtp.has_extn("starttls"):
        smtp.starttls(context=_tls_context(config))
        smtp.ehlo()
    elif config.starttls_required:
        raise MailRejected(
            f"{where} does not offer STARTTLS, and mail to another machine is never sent "
            "in the clear: use smtps:// or a server that offers STARTTLS"
        )


def _tls_context(config: MailConfig) -> ssl.SSLContext:
    return config.tls_context or ssl.create_default_context()


def _tls_reason(problem: ssl.SSLError) -> str:
    return getattr(problem, "verify_message", None) or problem.reason or str(problem)


def _answer(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(said.split())}"


def _scrub(text: str, config: MailConfig) -> str:
    """A server's answer with the password blanked, should a server ever echo it."""
    return text.replace(config.password, "***") if config.password else text
