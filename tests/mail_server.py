"""A real SMTP server on loopback for the tests (aiosmtpd in a thread): it keeps each message it
accepted, parsed, with its envelope, and can speak STARTTLS or TLS with a certificate of its own
CA, ask for a password, refuse recipients (550) or defer DATA (451)."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"
# Fixed, wide validity: the certificates work whatever day the tests run (or are shifted to).
_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: the envelope, the parsed message, and how the session was held."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    tls: bool
    authenticated_as: str | None


def free_port() -> int:
    """A port nothing listens on right now (each test runs in its own network namespace)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ServerCertificates:
    """A CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def client_context(self) -> ssl.SSLContext:
        """What a client that trusts this CA (and nothing else) uses."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert_path), str(self.key_path))
        return context


def make_certificates(directory: Path) -> ServerCertificates:
    """A CA (CA:TRUE, keyCertSign) and a leaf it signed (serverAuth, SAN 127.0.0.1 and
    localhost), with the extensions a strict verifier asks for."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "helpdesk-billing test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    certificates = ServerCertificates(
        directory / "ca.pem", directory / "server.pem", directory / "server.key"
    )
    certificates.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certificates.cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    certificates.key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificates


class _Handler:
    """aiosmtpd's hooks: refuse the chosen recipients, defer the first DATA commands, keep the
    rest."""

    def __init__(self, server: MailServer) -> None:
        self._server = server

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self._server.refuse_rcpt:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # A slow server (``delay_data``): the message is whole here and is kept after the
        # wait, as a real server keeps what it has queued, whether or not its "250" still
        # reaches a client that died meanwhile.
        if self._server.delay_data:
            await asyncio.sleep(self._server.delay_data)
        return self._server._accept(session, envelope)


class MailServer:
    """An SMTP server on 127.0.0.1 (a free port) until ``stop()``.

    ``starttls``: offers STARTTLS with a certificate of ``certificates``' CA; ``tls``: TLS from
    the first byte (smtps); ``auth=(user, password)``: offers AUTH (after STARTTLS when that is
    on); ``refuse_rcpt``: those recipients get 550; ``fail_data``: the first N DATA get 451;
    ``delay_data``: every message takes that many seconds to be taken (a slow server)."""

    def __init__(
        self,
        directory: Path,
        *,
        starttls: bool = False,
        tls: bool = False,
        auth: tuple[str, str] | None = None,
        refuse_rcpt: Iterable[str] = (),
        fail_data: int = 0,
        delay_data: float = 0.0,
    ) -> None:
        self.refuse_rcpt = set(refuse_rcpt)
        self.delay_data = delay_data
        self.fail_data = fail_data
        self.certificates = make_certificates(directory) if starttls or tls else None
        self.port = free_port()
        self.host = HOST
        self._tls_from_start = tls
        self._auth = auth
        self._received: list[ReceivedMail] = []
        self._changed = threading.Condition()
        parameters: dict[str, Any] = {}
        if self.certificates is not None and starttls:
            parameters.update(tls_context=self.certificates.server_context(), require_starttls=True)
        if auth is not None:
            # aiosmtpd only counts STARTTLS as encryption; behind smtps AUTH must be let through.
            parameters.update(authenticator=self._authenticate, auth_require_tls=starttls)
        self._controller = Controller(
            _Handler(self),
            hostname=HOST,
            port=self.port,
            ssl_context=self.certificates.server_context() if tls and self.certificates else None,
            **parameters,
        )

    def start(self) -> MailServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context trusting this server's CA only."""
        assert self.certificates is not None, "this server speaks no TLS"
        return self.certificates.client_context()

    def messages(self) -> list[ReceivedMail]:
        with self._changed:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """The messages once at least ``count`` arrived; AssertionError after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._received) >= count, timeout):
                raise AssertionError(
                    f"expected {count} message(s) within {timeout:g} s, got {len(self._received)}"
                )
            return list(self._received)

    def clear(self) -> None:
        with self._changed:
            self._received.clear()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self._auth is None:
            return AuthResult(success=False, handled=False)
        user, password = self._auth
        login = auth_data.login.decode()
        ok = login == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def _accept(self, session: Session, envelope: Envelope) -> str:
        with self._changed:
            if self.fail_data > 0:
                self.fail_data -= 1
                return "451 4.3.0 temporary failure, try again later"
            raw = envelope.original_content or b""
            # Parsed with the wire's CRLF as newlines, as a mail client shows it; raw keeps them.
            message = email.message_from_bytes(
                raw.replace(b"\r\n", b"\n"), policy=email.policy.default
            )
            assert isinstance(message, EmailMessage)
            self._received.append(
                ReceivedMail(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    message=message,
                    raw=raw,
                    # aiosmtpd sets session.ssl after STARTTLS only.
                    tls=self._tls_from_start or session.ssl is not None,
                    authenticated_as=session.auth_data if session.authenticated else None,
                )
            )
            self._changed.notify_all()
        return "250 2.0.0 OK: queued"
