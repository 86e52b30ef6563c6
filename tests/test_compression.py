"""Payload compression (runtime/compression.py), its place in the deployment's converter before
encryption (runtime/data_converter.py), its setting, and the codec endpoint without encryption
(api/codec.py), in process."""

from __future__ import annotations

import base64
import json
import os
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from api.app import create_app
from billing.roles import Role
from messages.payloads import data_converter
from messages.ticket_activities import RateResult
from runtime.compression import (
    DEFAULT_MAX_INFLATED_BYTES,
    DEFAULT_THRESHOLD_BYTES,
    ENCODING,
    CompressionCodec,
    CompressionProblem,
)
from runtime.data_converter import data_converter_for
from runtime.encryption import ENCODING as ENCRYPTED
from runtime.encryption import EncryptionCodec, Keyring
from settings import Settings, SettingsError
from store.database import open_store
from store.tokens import issue_token
from tests.billing.builders import closed, logged, make_book, opened, rate

LINES = 900  # the size of the longest ticket we measured (bench/ticket_size.py)


def rating_payload(lines: int = LINES) -> Payload:
    """The rate_ticket activity's result for a ticket with ``lines`` time entries."""
    entries = [
        logged(
            f"te-{n}",
            15 + n % 50,
            f"2026-11-{2 + n % 20:02d}T{8 + n % 12:02d}:00:00-05:00",
            note=f"Moved desk {n} and patched port {n % 48} on switch B",
        )
        for n in range(lines)
    ]
    rating = rate(make_book(), opened(), *entries, closed())
    [payload] = data_converter.payload_converter.to_payloads([RateResult(rating=rating)])
    return payload


def small_payload(text: str = "Printer offline") -> Payload:
    [payload] = data_converter.payload_converter.to_payloads([{"subject": text}])
    return payload


def wrapped(data: bytes) -> Payload:
    return Payload(metadata={"encoding": ENCODING}, data=data)


def bomb(inflated_bytes: int) -> bytes:
    """A zlib stream of ``inflated_bytes`` zeros, made without holding them all at once."""
    deflater = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    parts = [deflater.compress(chunk) for _ in range(inflated_bytes // len(chunk))]
    parts.append(deflater.compress(bytes(inflated_bytes % len(chunk))))
    return b"".join([*parts, deflater.flush()])


async def test_a_large_payload_is_compressed_whole_and_round_trips() -> None:
    plain = rating_payload()
    assert plain.ByteSize() > 256 * 1024  # over our per-payload budget as plain JSON
    [stored] = await CompressionCodec().encode([plain])
    assert dict(stored.metadata) == {"encoding": ENCODING}  # json/plain is inside
    assert stored.ByteSize() * 10 < plain.ByteSize(), (stored.ByteSize(), plain.ByteSize())
    assert Payload.FromString(zlib.decompress(stored.data)) == plain
    assert await CompressionCodec().decode([stored]) == [plain]


def json_of_size(size: int) -> Payload:
    """A compressible json/plain payload whose serialized size is exactly ``size`` bytes."""
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b"")
    payload.data = b"a" * (size - payload.ByteSize() - 4)  # the tag and length of data
    while payload.ByteSize() < size:
        payload.data += b"a"
    assert payload.ByteSize() == size
    return payload


async def test_small_payloads_stay_plain_json_for_the_temporal_ui() -> None:
    small, at_threshold = small_payload(), json_of_size(DEFAULT_THRESHOLD_BYTES)
    assert await CompressionCodec().encode([small, at_threshold]) == [small, at_threshold]
    [over] = await CompressionCodec().encode([json_of_size(DEFAULT_THRESHOLD_BYTES + 1)])
    assert over.metadata["encoding"] == ENCODING


async def test_a_payload_that_does_not_shrink_is_left_plain() -> None:
    noise = Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(100 * 1024))
    assert await CompressionCodec().encode([noise]) == [noise]


async def test_payloads_written_before_compression_pass_through_decode() -> None:
    old = [small_payload(), rating_payload(60)]  # plain, however big
    assert await CompressionCodec().decode(old) == old


async def test_with_compression_off_nothing_is_compressed_but_everything_is_read() -> None:
    plain = rating_payload()
    [stored] = await CompressionCodec().encode([plain])
    off = data_converter_for(Settings(payload_compression=False))
    assert off.payload_codec is not None
    assert await off.payload_codec.encode([plain]) == [plain]
    assert await off.payload_codec.decode([stored, plain]) == [plain, plain]
    [rated] = await off.decode([stored], [RateResult])
    assert isinstance(rated, RateResult) and rated.rating is not None
    assert len(rated.rating.lines) == LINES


async def test_compressed_then_encrypted_round_trips_with_no_plaintext(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(Keyring("k1", {"k1": bytes(range(32))}).to_json())
    converter = data_converter_for(Settings(encryption_keys_file=keys))
    assert converter.payload_codec is not None
    plain = rating_payload()
    [sealed] = await converter.payload_codec.encode([plain])
    assert sealed.metadata["encoding"] == ENCRYPTED
    assert b"Moved desk" not in sealed.data and b"json" not in sealed.data
    assert b"zlib" not in sealed.data  # the inner payload's metadata is sealed as well
    # Compressed before sealing: ciphertext does not compress, so the other order saves nothing.
    assert sealed.ByteSize() * 10 < plain.ByteSize()
    [inner] = await EncryptionCodec(Keyring.load(keys)).decode([sealed])
    assert inner.metadata["encoding"] == ENCODING
    assert await converter.payload_codec.decode([sealed]) == [plain]


async def test_a_zip_bomb_is_refused_before_it_fills_memory() -> None:
    codec = CompressionCodec()
    over = wrapped(bomb(DEFAULT_MAX_INFLATED_BYTES + 1024 * 1024))
    assert len(over.data) < 100 * 1024  # 65 MiB of zeros in under 100 KiB
    with pytest.raises(CompressionProblem, match=f"inflates beyond {DEFAULT_MAX_INFLATED_BYTES}"):
        await codec.decode([over])
    # Many payloads each under the bound are bounded together.
    small_codec = CompressionCodec(max_inflated_bytes=1024 * 1024)
    half = Payload(metadata={"encoding": b"binary/plain"}, data=bytes(700 * 1024))
    one = wrapped(zlib.compress(half.SerializeToString()))
    assert await small_codec.decode([one]) == [half]
    with pytest.raises(CompressionProblem, match="per batch of payloads"):
        await small_codec.decode([one, one])


async def test_a_corrupt_compressed_payload_fails_with_the_reason() -> None:
    stream = zlib.compress(rating_payload(60).SerializeToString())
    codec = CompressionCodec()
    with pytest.raises(CompressionProblem, match="not a valid zlib stream"):
        await codec.decode([wrapped(b"not zlib at all")])
    with pytest.raises(CompressionProblem, match="truncated"):
        await codec.decode([wrapped(stream[: len(stream) // 2])])
    with pytest.raises(CompressionProblem, match="bytes after its zlib stream"):
        await codec.decode([wrapped(stream + b"extra")])
    with pytest.raises(CompressionProblem, match="does not hold a payload"):
        await codec.decode([wrapped(zlib.compress(b"\xff" * 64))])


def test_the_setting_is_on_by_default_and_read_from_the_environment() -> None:
    assert Settings().payload_compression is True
    for text, expected in (("false", False), ("0", False), ("off", False), ("", True)):
        settings = Settings.from_environment({"HDB_PAYLOAD_COMPRESSION": text})
        assert settings.payload_compression is expected, text
    with pytest.raises(SettingsError, match="HDB_PAYLOAD_COMPRESSION: 'maybe' is not a switch"):
        Settings.from_environment({"HDB_PAYLOAD_COMPRESSION": "maybe"})


async def test_without_encryption_failure_messages_stay_readable() -> None:
    converter = data_converter_for(Settings())
    failure = Failure()
    await converter.encode_failure(ApplicationError("billing refused the line"), failure)
    assert failure.message == "billing refused the line"


# ---- the codec endpoint without encryption -----------------------------------------------------


def as_json(payload: Payload) -> dict[str, object]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def test_the_codec_endpoint_inflates_for_operators_without_encryption(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = Settings(database_url=url, secrets_dir=tmp_path / "s", otel_exporter="none")
    engine = open_store(url)
    roles = (Role.SUPPORT, Role.OPERATOR, Role.ADMIN)
    tokens = {role: issue_token(engine, role.value, role) for role in roles}
    http = TestClient(create_app(settings, engine=engine))
    plain = rating_payload(120)
    [stored] = await CompressionCodec().encode([plain])
    body = {"payloads": [as_json(stored), as_json(small_payload())]}

    def post(path: str, role: Role | None, payloads: object = body) -> object:
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
        return http.post(path, json=payloads, headers=headers | {"X-Namespace": "default"})

    answer = post("/codec/decode", Role.OPERATOR)
    assert answer.status_code == 200, answer.text
    [big, small] = answer.json()["payloads"]
    assert base64.b64decode(big["metadata"]["encoding"]) == b"json/plain"
    assert json.loads(base64.b64decode(big["data"]))["rating"]["lines"][0]["source_id"] == "te-0"
    assert base64.b64decode(small["data"]) == small_payload().data
    assert post("/codec/default/decode", Role.ADMIN).status_code == 200
    assert post("/codec/decode", Role.SUPPORT).status_code == 403
    assert post("/codec/decode", None).status_code == 401
    assert post("/codec/encode", Role.OPERATOR).status_code == 403
    encoded = post("/codec/encode", Role.ADMIN, {"payloads": [as_json(plain)]})
    assert encoded.status_code == 200
    [compressed] = encoded.json()["payloads"]
    assert base64.b64decode(compressed["metadata"]["encoding"]) == ENCODING
    hostile = {"payloads": [as_json(wrapped(bomb(DEFAULT_MAX_INFLATED_BYTES + 1)))]}
    refused = post("/codec/decode", Role.OPERATOR, hostile)
    assert refused.status_code == 422 and "inflates beyond" in refused.json()["error"]
