"""Secrets the service keeps (created once in a private file when not set) and the values it
signs with them: customer signoff links and page session cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

from settings import Settings
from store.private_files import private_folder


class Unauthorized(Exception):
    """No or bad credentials (HTTP 401); the message says which."""


# ---- secrets -----------------------------------------------------------------------------------


def secret(settings: Settings, name: str) -> str:
    """``webhook_secret`` or ``signing_key``: from the settings, else from (or created once in)
    a file under ``settings.secrets_dir``, readable by its owner only."""
    configured = getattr(settings, name)
    if configured:
        return str(configured)
    path = settings.secrets_dir / name
    if not path.exists():
        private_folder(path.parent)  # 0700 whatever the umask (store/private_files.py)
        _write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def _write_private(path: Path, text: str) -> None:
    try:
        path.touch(mode=0o600, exist_ok=False)
    except FileExistsError:
        return  # another process created it first; use theirs
    path.write_text(text + "\n")


# ---- signed values: signoff links and session cookies -------------------------------------------


def sign(key: str, payload: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return (body + b"." + base64.urlsafe_b64encode(mac)).decode().replace("=", "")


def unsign(key: str, value: str, now: datetime | None = None) -> dict[str, object]:
    """The payload of a value ``sign`` made with ``key``; Unauthorized for anything else."""
    body, _, mac = value.partition(".")
    try:
        body_bytes = body.encode() + b"=" * (-len(body) % 4)
        mac_bytes = base64.urlsafe_b64decode(mac.encode() + b"=" * (-len(mac) % 4))
        expected = hmac.new(key.encode(), body_bytes, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, mac_bytes):
            raise Unauthorized("the link or session is not valid")
        payload = json.loads(base64.urlsafe_b64decode(body_bytes))
    except (ValueError, TypeError):
        raise Unauthorized("the link or session is not valid") from None
    if not isinstance(payload, dict):
        raise Unauthorized("the link or session is not valid")
    expires = payload.get("exp")
    if not isinstance(expires, int) or expires < int((now or _now()).timestamp()):
        raise Unauthorized("the link or session has expired")
    return payload


def claimed_link_id(token: str) -> str:
    """The link id a signoff token claims, its signature unchecked: for counting attempts per
    link (api/throttle.py), never for granting anything. "" when it claims none."""
    body = token.partition(".")[0]
    try:
        payload = json.loads(base64.urlsafe_b64decode(body.encode() + b"=" * (-len(body) % 4)))
    except (ValueError, TypeError, RecursionError):  # unchecked text: anything may be in it
        return ""
    link = payload.get("link") if isinstance(payload, dict) else None
    return link if isinstance(link, str) else ""


def _now() -> datetime:
    return datetime.now(UTC)
