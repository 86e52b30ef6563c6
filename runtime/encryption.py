"""Payload encryption: AES-256-GCM over every payload the service puts in Temporal.

Temporal stores workflow inputs, signals, activity arguments and results, query answers, memos,
static summaries and details, and (with the failure converter below) failure messages and stack
traces as *payloads*. With a key file configured (``HDB_ENCRYPTION_KEYS_FILE``), each payload is
serialized whole (its metadata too, so even the ``json/plain`` encoding is hidden) and sealed
with the keyring's current key; what Temporal keeps is::

    metadata: {"encoding": "binary/encrypted", "encryption-key-id": "k2"}
    data:     12-byte nonce || AES-GCM ciphertext and tag

The key id is also the AES-GCM associated data, so a payload relabelled with another key id
fails to open like any other tampering. Decoding uses whichever key the payload names, so keys
rotate without re-encrypting history: add a key, make it ``current``, keep the old ones for as
long as anything written with them is still in Temporal (the settle period plus the namespace's
retention). A payload that is not ``binary/encrypted`` is passed through unchanged: the
histories of workflows started before encryption was turned on still replay.

Search attributes, workflow ids, activity and signal names, timer names and headers are never
encoded by Temporal's SDKs: nothing secret may go there (docs/encryption.md).

The keys come only from the key file, never from settings text or the repository::

    {"current": "k2", "keys": {"k1": "<base64 of 32 bytes>", "k2": "<base64 of 32 bytes>"}}

``python -m runtime.encryption new FILE`` writes a new key file (mode 600); ``rotate FILE``
adds a new key and makes it current (``--add-only``: adds it only); ``use FILE ID`` makes a key
the file holds current (docs/encryption.md: rotating with several processes).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from store.private_files import private_folder

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
# What a refused plaintext payload becomes: an encoding no payload converter reads.
REFUSED_PLAINTEXT = b"binary/refused-unencrypted"

logger = logging.getLogger(__name__)
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
_KEY_ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class EncryptionProblem(ValueError):
    """A payload cannot be decrypted, or the key file cannot be used; the message says why."""


class UnknownKeyId(EncryptionProblem):
    """A payload names a key id the keyring does not hold (retired too early, or another
    deployment's key)."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        super().__init__(
            f"payload is encrypted with key id {key_id!r}, which is not in the keyring "
            f"(keys: {', '.join(sorted(known)) or 'none'}); add that key back to the key file"
        )
        self.key_id = key_id


@dataclass(frozen=True)
class Keyring:
    """Keys by id; ``current`` encrypts, every key decrypts."""

    current: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if not self.keys:
            raise EncryptionProblem("the keyring holds no keys")
        for key_id, key in self.keys.items():
            if not key_id or not set(key_id) <= _KEY_ID_CHARACTERS or len(key_id) > 64:
                raise EncryptionProblem(
                    f"key id {key_id!r}: use 1-64 letters, digits, '-', '_' or '.'"
                )
            if len(key) != KEY_BYTES:
                raise EncryptionProblem(
                    f"key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
                )
        if self.current not in self.keys:
            raise EncryptionProblem(f"the current key id {self.current!r} is not among the keys")

    @classmethod
    def from_json(cls, text: str, source: str = "the key file") -> Keyring:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise EncryptionProblem(f"{source} is not JSON: {error}") from None
        if not isinstance(document, dict):
            raise EncryptionProblem(f'{source} must be {{"current": ID, "keys": {{ID: BASE64}}}}')
        current, keys = document.get("current"), document.get("keys")
        if not isinstance(current, str) or not isinstance(keys, dict):
            raise EncryptionProblem(
                f'{source} needs "current" (a key id) and "keys" ({{key id: base64 key}})'
            )
        decoded: dict[str, bytes] = {}
        for key_id, text_key in keys.items():
            try:
                decoded[key_id] = base64.b64decode(str(text_key), validate=True)
            except (binascii.Error, ValueError):
                raise EncryptionProblem(f"{source}: key {key_id!r} is not base64") from None
        try:
            return cls(current, decoded)
        except EncryptionProblem as problem:
            raise EncryptionProblem(f"{source}: {problem}") from None

    @classmethod
    def load(cls, path: Path) -> Keyring:
        try:
            text = path.read_text()
        except OSError as error:
            raise EncryptionProblem(
                f"cannot read the encryption key file {path}: {error.strerror}"
            ) from None
        return cls.from_json(text, source=f"the encryption key file {path}")

    @classmethod
    def generate(cls, key_id: str = "k1") -> Keyring:
        return cls(key_id, {key_id: AESGCM.generate_key(bit_length=KEY_BYTES * 8)})

    def rotated(self, new_key_id: str | None = None) -> Keyring:
        """A keyring with a new, current key; the old keys stay for decoding."""
        key_id = new_key_id or _next_key_id(self.keys)
        if key_id in self.keys:
            raise EncryptionProblem(f"key id {key_id!r} is already in the keyring")
        key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        return Keyring(key_id, {**self.keys, key_id: key})

    def to_json(self) -> str:
        keys = {key_id: base64.b64encode(key).decode() for key_id, key in self.keys.items()}
        return json.dumps({"current": self.current, "keys": keys}, indent=2) + "\n"

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(current={self.current!r}, key_ids={sorted(self.keys)!r})"


def _next_key_id(keys: Mapping[str, bytes]) -> str:
    numbers = [int(key_id[1:]) for key_id in keys if key_id[:1] == "k" and key_id[1:].isdigit()]
    return f"k{max(numbers, default=0) + 1}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with key ids; see the module's description."""

    def __init__(self, keyring: Keyring, *, refuse_plaintext: bool = False) -> None:
        self._current = keyring.current
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}
        self._refuse_plaintext = refuse_plaintext

    @property
    def current_key_id(self) -> str:
        return self._current

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._current
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if not self._refuse_plaintext:
                return payload  # written before encryption was on (or by a client without it)
            # Sent by a client without the key: anyone who can reach Temporal. Refused, not
            # raised: a decoding error would fail the workflow task on every attempt, leaving the
            # ticket stuck; a payload no converter reads is dropped by the SDK (a signal's, with
            # a logged warning) or fails only the call that sent it (a query's, an update's).
            logger.warning(
                "refused an unencrypted payload (encoding %r): encryption is on, and only a "
                "client holding the key may send payloads (HDB_ENCRYPTION_ACCEPT_PLAINTEXT)",
                payload.metadata.get("encoding", b"").decode(errors="replace")[:40],
            )
            return Payload(metadata={"encoding": REFUSED_PLAINTEXT})
        raw_key_id = payload.metadata.get(KEY_ID)
        if raw_key_id is None:
            raise EncryptionProblem(f"encrypted payload has no {KEY_ID!r} in its metadata")
        key_id = raw_key_id.decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyId(key_id, list(self._ciphers))
        if len(payload.data) <= NONCE_BYTES:
            raise EncryptionProblem(f"encrypted payload (key id {key_id!r}) is truncated")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise EncryptionProblem(
                f"encrypted payload (key id {key_id!r}) failed authentication: it was altered, "
                "or sealed with another key of the same id"
            ) from None
        return Payload.FromString(plain)


def codec_from_file(path: Path, *, refuse_plaintext: bool = False) -> EncryptionCodec:
    return EncryptionCodec(Keyring.load(path), refuse_plaintext=refuse_plaintext)


# ---- key files ----------------------------------------------------------------------------------


def write_keyring(path: Path, keyring: Keyring) -> None:
    """Write ``path`` readable by its owner only, replacing it atomically."""
    private_folder(path.parent)
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(keyring.to_json())
    os.replace(temporary, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.encryption", description="Make or rotate the payload key file."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="write a new key file with one key")
    new.add_argument("file", type=Path)
    new.add_argument("--key-id", default="k1")
    rotate = commands.add_parser("rotate", help="add a new current key; old keys still decode")
    rotate.add_argument("file", type=Path)
    rotate.add_argument("--key-id", default=None)
    rotate.add_argument(
        "--add-only",
        action="store_true",
        help="add the key but keep encrypting with the current one (step 1 of 2 when several "
        "processes share the keys: every process must know a key before any encrypts with it)",
    )
    use = commands.add_parser("use", help="encrypt with a key the file already holds")
    use.add_argument("file", type=Path)
    use.add_argument("key_id")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "new":
            if arguments.file.exists():
                print(f"error: {arguments.file} exists; use rotate", file=sys.stderr)
                return 2
            keyring = Keyring.generate(arguments.key_id)
        elif arguments.command == "rotate":
            before = Keyring.load(arguments.file)
            keyring = before.rotated(arguments.key_id)
            if arguments.add_only:
                keyring = Keyring(before.current, keyring.keys)
        else:
            keyring = Keyring(arguments.key_id, Keyring.load(arguments.file).keys)
    except EncryptionProblem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    write_keyring(arguments.file, keyring)
    print(f"{arguments.file}: current key {keyring.current} (keys: {', '.join(keyring.keys)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
