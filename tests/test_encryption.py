"""Payload encryption (runtime/encryption.py), the converter the service connects with
(runtime/data_converter.py), and the codec server endpoint (api/codec.py) in process."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pytest
from fastapi.testclient import TestClient
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from api.app import create_app
from billing.roles import Role
from messages.payloads import data_converter
from runtime.compression import CompressionCodec
from runtime.data_converter import (
    PayloadCodecChain,
    data_converter_for,
    encryption_codec_for,
    payload_codec_for,
)
from runtime.encryption import (
    ENCODING,
    KEY_ID,
    REFUSED_PLAINTEXT,
    EncryptionCodec,
    EncryptionProblem,
    Keyring,
    UnknownKeyId,
    main,
    write_keyring,
)
from settings import Settings, SettingsError
from store.database import open_store
from store.tokens import issue_token

SUBJECT = "Printer on floor 3 leaks toner, ask Jane Roe"


def keyring(current: str = "k1", *ids: str) -> Keyring:
    keys = {key_id: bytes([index + 1]) * 32 for index, key_id in enumerate(ids or (current,))}
    return Keyring(current, keys)


def key_file(path: Path, ring: Keyring) -> Path:
    path.write_text(ring.to_json())
    return path


async def test_a_payload_round_trips_and_nothing_of_it_shows() -> None:
    codec = EncryptionCodec(keyring("k1"))
    [plain] = data_converter.payload_converter.to_payloads([{"subject": SUBJECT}])
    [sealed] = await codec.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert set(sealed.metadata) == {"encoding", KEY_ID}  # json/plain is hidden too
    assert b"Printer" not in sealed.data and b"json" not in sealed.data
    [opened] = await codec.decode([sealed])
    assert opened == plain
    [again] = await codec.encode([plain])
    assert again.data != sealed.data  # a fresh nonce every time


async def test_after_rotation_old_payloads_still_decode_and_new_ones_use_the_new_key() -> None:
    before = EncryptionCodec(keyring("k1", "k1"))
    [plain] = data_converter.payload_converter.to_payloads([SUBJECT])
    [old] = await before.encode([plain])
    after = EncryptionCodec(keyring("k2", "k1", "k2"))
    [new] = await after.encode([plain])
    assert new.metadata[KEY_ID] == b"k2"
    assert await after.decode([old, new]) == [plain, plain]


async def test_a_payload_naming_an_unknown_key_id_is_refused_by_name() -> None:
    [plain] = data_converter.payload_converter.to_payloads([SUBJECT])
    [sealed] = await EncryptionCodec(keyring("k9", "k9")).encode([plain])
    with pytest.raises(UnknownKeyId, match="'k9'") as raised:
        await EncryptionCodec(keyring("k1", "k1", "k2")).decode([sealed])
    assert raised.value.key_id == "k9"
    assert "k1, k2" in str(raised.value)


async def test_tampered_ciphertext_or_a_relabelled_key_id_fails_authentication() -> None:
    codec = EncryptionCodec(keyring("k1", "k1", "k2"))
    [plain] = data_converter.payload_converter.to_payloads([SUBJECT])
    [sealed] = await codec.encode([plain])
    flipped = bytearray(sealed.data)
    flipped[-20] ^= 1
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(EncryptionProblem, match="failed authentication"):
        await codec.decode([tampered])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"k2"}, data=sealed.data)
    with pytest.raises(EncryptionProblem, match="failed authentication"):
        await codec.decode([relabelled])
    truncated = Payload(metadata=dict(sealed.metadata), data=sealed.data[:5])
    with pytest.raises(EncryptionProblem, match="truncated"):
        await codec.decode([truncated])


async def test_payloads_written_before_encryption_was_on_pass_through_when_accepted() -> None:
    [plain] = data_converter.payload_converter.to_payloads([SUBJECT])
    assert await EncryptionCodec(keyring()).decode([plain]) == [plain]


async def test_with_encryption_on_a_plaintext_payload_is_refused_when_decoded(
    tmp_path: Path,
) -> None:
    """Issue 14: a client without the key (anyone who can reach Temporal) cannot slip a
    plaintext signal past the codec. It decodes to nothing a converter reads, so the SDK drops
    the signal instead of failing the ticket's workflow task for ever."""
    keys = tmp_path / "keys.json"
    write_keyring(keys, keyring())
    settings = Settings(encryption_keys_file=keys)
    [plain] = data_converter.payload_converter.to_payloads([{"actor": "maria", "role": "manager"}])
    [refused] = await data_converter_for(settings).payload_codec.decode([plain])
    assert refused.metadata["encoding"] == REFUSED_PLAINTEXT and refused.data == b""
    with pytest.raises(KeyError, match="Unknown payload encoding"):
        data_converter.payload_converter.from_payloads([refused])
    # Its own payloads still round-trip; the transition setting accepts plaintext again, and
    # the codec endpoint shows it to people as it is.
    codec = data_converter_for(settings).payload_codec
    assert await codec.decode(await codec.encode([plain])) == [plain]
    accepting = Settings(encryption_keys_file=keys, encryption_accept_plaintext=True)
    assert await data_converter_for(accepting).payload_codec.decode([plain]) == [plain]
    assert await payload_codec_for(settings, for_display=True).decode([plain]) == [plain]


def test_the_key_file_is_checked_and_never_printed(tmp_path: Path) -> None:
    ring = Keyring.from_json(keyring("k2", "k1", "k2").to_json())
    assert ring.current == "k2" and set(ring.keys) == {"k1", "k2"}
    assert base64.b64encode(ring.keys["k1"]).decode() not in repr(ring)
    short = json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(b"x" * 16).decode()}})
    with pytest.raises(EncryptionProblem, match="16 bytes; AES-256 needs 32"):
        Keyring.from_json(short)
    with pytest.raises(EncryptionProblem, match="current key id 'k3'"):
        Keyring.from_json(json.dumps({"current": "k3", "keys": json.loads(ring.to_json())["keys"]}))
    with pytest.raises(EncryptionProblem, match="not base64"):
        Keyring.from_json(json.dumps({"current": "k1", "keys": {"k1": "not base64!"}}))
    with pytest.raises(EncryptionProblem, match="cannot read"):
        Keyring.load(tmp_path / "missing.json")


def test_the_key_file_command_makes_and_rotates_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    assert main(["new", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    first = Keyring.load(path)
    assert main(["rotate", str(path)]) == 0
    rotated = Keyring.load(path)
    assert rotated.current == "k2" and rotated.keys["k1"] == first.keys["k1"]
    assert main(["new", str(path)]) == 2  # never overwrites a key file
    assert main(["rotate", "--add-only", str(path)]) == 0
    added = Keyring.load(path)
    assert added.current == "k2" and set(added.keys) == {"k1", "k2", "k3"}
    assert main(["use", str(path), "k3"]) == 0
    assert Keyring.load(path).current == "k3"
    assert main(["use", str(path), "k9"]) == 2


def test_settings_turn_encryption_on_with_a_key_file_under_the_secrets_dir(
    tmp_path: Path,
) -> None:
    assert encryption_codec_for(Settings()) is None
    key_file(tmp_path / "payload-keys.json", keyring("k1"))
    settings = Settings.from_environment(
        {
            "HDB_SECRETS_DIR": str(tmp_path),
            "HDB_ENCRYPTION_KEYS_FILE": "payload-keys.json",
            "HDB_CODEC_CORS_ORIGINS": "http://localhost:8233, https://temporal.example.com/",
        }
    )
    assert settings.encryption_keys_path == tmp_path / "payload-keys.json"
    assert settings.codec_cors_origins == ("http://localhost:8233", "https://temporal.example.com")
    converter = data_converter_for(settings)
    assert isinstance(converter.payload_codec, PayloadCodecChain)
    [compression, encryption] = converter.payload_codec.codecs  # compress, then encrypt
    assert isinstance(compression, CompressionCodec) and isinstance(encryption, EncryptionCodec)
    # The shared pydantic payload converter (and its adapter cache) is kept.
    assert converter.payload_converter_class is data_converter.payload_converter_class
    off = Settings.from_environment({"HDB_ENCRYPTION_KEYS_FILE": ""})
    assert off.encryption_keys_path is None
    broken = Settings(encryption_keys_file=tmp_path / "missing.json")
    with pytest.raises(SettingsError, match="HDB_ENCRYPTION_KEYS_FILE: cannot read"):
        data_converter_for(broken)


async def test_values_survive_the_encrypting_converter_with_decimal_intact(
    tmp_path: Path,
) -> None:
    settings = Settings(encryption_keys_file=key_file(tmp_path / "k.json", keyring()))
    converter = data_converter_for(settings)
    [sealed] = await converter.encode([{"total": Decimal("95.00"), "subject": SUBJECT}])
    assert SUBJECT.encode() not in sealed.data
    [value] = await converter.decode([sealed], [dict[str, Decimal | str]])
    assert value == {"total": Decimal("95.00"), "subject": SUBJECT}


async def test_failure_messages_and_stack_traces_are_encrypted(tmp_path: Path) -> None:
    settings = Settings(encryption_keys_file=key_file(tmp_path / "k.json", keyring()))
    converter = data_converter_for(settings)
    try:
        raise ApplicationError(f"billing refused the line: {SUBJECT}", type="BillingRejected")
    except ApplicationError as error:
        failure = Failure()
        await converter.encode_failure(error, failure)
    raw = failure.SerializeToString()
    assert SUBJECT.encode() not in raw and b"billing refused" not in raw
    assert failure.message == "Encoded failure" and failure.stack_trace == ""
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    assert failure.application_failure_info.type == "BillingRejected"  # types stay readable
    decoded = await converter.decode_failure(failure)
    assert SUBJECT in str(decoded)
    # Without encryption the message is in the clear: that is what the setting changes.
    plain = Failure()
    await data_converter.encode_failure(ApplicationError(SUBJECT), plain)
    assert SUBJECT.encode() in plain.SerializeToString()


# ---- the codec server endpoint, in process ------------------------------------------------------


class CodecApp(NamedTuple):
    http: TestClient
    tokens: dict[Role, str]
    codec: EncryptionCodec


@pytest.fixture
def codec_app(tmp_path: Path) -> CodecApp:
    ring = keyring("k1")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = Settings(
        database_url=url,
        secrets_dir=tmp_path / "secrets",
        encryption_keys_file=key_file(tmp_path / "k.json", ring),
        otel_exporter="none",
    )
    engine = open_store(url)
    roles = (Role.SUPPORT, Role.OPERATOR, Role.ADMIN)
    tokens = {role: issue_token(engine, role.value, role) for role in roles}
    return CodecApp(TestClient(create_app(settings, engine=engine)), tokens, EncryptionCodec(ring))


def as_json(payload: Payload) -> dict[str, object]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def test_the_codec_endpoint_decodes_for_an_operator_only(codec_app: CodecApp) -> None:
    http, tokens, codec = codec_app
    [plain] = data_converter.payload_converter.to_payloads([{"subject": SUBJECT}])
    [sealed] = await codec.encode([plain])
    body = {"payloads": [as_json(sealed)]}
    bearer = {"Authorization": f"Bearer {tokens[Role.OPERATOR]}", "X-Namespace": "default"}
    answer = http.post("/codec/decode", json=body, headers=bearer)
    assert answer.status_code == 200, answer.text
    [decoded] = answer.json()["payloads"]
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
    assert json.loads(base64.b64decode(decoded["data"])) == {"subject": SUBJECT}
    assert http.post("/codec/default/decode", json=body, headers=bearer).status_code == 200

    support = {"Authorization": f"Bearer {tokens[Role.SUPPORT]}"}
    assert http.post("/codec/decode", json=body, headers=support).status_code == 403
    refused = http.post("/codec/decode", json=body)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    wrong = {"Authorization": "Bearer hdb_not-a-token"}
    assert http.post("/codec/decode", json=body, headers=wrong).status_code == 401
    other = {**bearer, "X-Namespace": "payments"}
    assert http.post("/codec/decode", json=body, headers=other).status_code == 400
    bad = http.post("/codec/decode", content=b"{not json", headers=bearer)
    assert bad.status_code == 400
    unknown = Payload(metadata={"encoding": ENCODING, KEY_ID: b"k7"}, data=sealed.data)
    refused_key = http.post("/codec/decode", json={"payloads": [as_json(unknown)]}, headers=bearer)
    assert refused_key.status_code == 422 and "'k7'" in refused_key.json()["error"]


async def test_the_codec_endpoint_encodes_for_an_admin_only(codec_app: CodecApp) -> None:
    http, tokens, codec = codec_app
    [plain] = data_converter.payload_converter.to_payloads([SUBJECT])
    body = {"payloads": [as_json(plain)]}
    operator = {"Authorization": f"Bearer {tokens[Role.OPERATOR]}"}
    assert http.post("/codec/encode", json=body, headers=operator).status_code == 403
    admin = {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}
    answer = http.post("/codec/encode", json=body, headers=admin)
    assert answer.status_code == 200
    [sealed] = answer.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    round_trip = Payload(
        metadata={k: base64.b64decode(v) for k, v in sealed["metadata"].items()},
        data=base64.b64decode(sealed["data"]),
    )
    assert await codec.decode([round_trip]) == [plain]


def test_the_web_ui_origin_passes_cors_and_others_do_not(codec_app: CodecApp) -> None:
    http = codec_app.http
    preflight = {
        "Origin": "http://localhost:8233",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    answer = http.options("/codec/decode", headers=preflight)
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    allowed = answer.headers["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "content-type", "x-namespace"} <= {
        part.strip() for part in allowed.split(",")
    }
    evil = http.options("/codec/decode", headers={**preflight, "Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert "Access-Control-Allow-Origin" not in evil.headers
    # A refusal carries the CORS headers too, so the UI can show why.
    refused = http.post(
        "/codec/decode", json={"payloads": []}, headers={"Origin": "http://localhost:8233"}
    )
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
