"""``.data/`` is the owner's only (store/private_files.py): what we create there is 0700
(folders) and 0600 (files) even under the usual umask 022: the SQLite store with its -wal and
-shm files, key files' folders, the undelivered events, the demo's tokens. Folders that exist
already keep their modes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from api.security import secret
from cli.ingest_command import save_undelivered
from runtime.encryption import Keyring, write_keyring
from settings import Settings
from store.database import open_store
from store.private_files import private_file, private_folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most shells give: without our modes, new files would be 0644, folders 0755."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_folders_and_files_we_create_are_the_owners_only(tmp_path: Path) -> None:
    made = private_folder(tmp_path / ".data" / "secrets")
    assert mode(tmp_path / ".data") == 0o700 and mode(made) == 0o700
    assert mode(private_file(tmp_path / ".data" / "logs" / "a.log")) == 0o600
    assert mode(tmp_path / ".data" / "logs") == 0o700


def test_what_exists_keeps_its_modes(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    existing = shared / "kept.txt"
    existing.write_text("x")
    existing.chmod(0o644)
    private_folder(shared)
    private_file(existing)
    assert mode(shared) == 0o755 and mode(existing) == 0o644
    assert mode(private_folder(shared / "new")) == 0o700


def test_the_sqlite_store_and_its_wal_files_are_the_owners_only(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / '.data' / 'helpdesk-billing.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE probe (x INTEGER)"))
        connection.execute(text("INSERT INTO probe VALUES (1)"))
    data = tmp_path / ".data"
    files = sorted(path.name for path in data.iterdir())
    assert {"helpdesk-billing.db", "helpdesk-billing.db-wal"} <= set(files), files
    assert mode(data) == 0o700
    assert {name: mode(data / name) for name in files} == {name: 0o600 for name in files}
    engine.dispose()


def test_an_in_memory_store_creates_no_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///:memory:").dispose()
    assert list(tmp_path.iterdir()) == []


def test_key_files_and_undelivered_events_are_the_owners_only(tmp_path: Path) -> None:
    key_file = tmp_path / ".data" / "secrets" / "payload-keys.json"
    write_keyring(key_file, Keyring.generate())
    assert mode(key_file.parent) == 0o700 and mode(key_file.parent.parent) == 0o700
    assert mode(key_file) == 0o600
    undelivered = tmp_path / "out" / ".data" / "undelivered-x.jsonl"
    save_undelivered(undelivered, [])
    assert mode(undelivered) == 0o600 and mode(undelivered.parent) == 0o700


def test_the_apis_generated_secrets_are_the_owners_only(tmp_path: Path) -> None:
    """`starter.py serve` on its own (no demo, so no umask 077) creates the signing key and the
    webhook secret, and their folder, for its owner only."""
    settings = Settings(secrets_dir=tmp_path / "data" / "secrets")
    key = secret(settings, "signing_key")
    assert key and secret(settings, "signing_key") == key  # created once, then read
    assert mode(tmp_path / "data") == mode(tmp_path / "data" / "secrets") == 0o700
    assert mode(tmp_path / "data" / "secrets" / "signing_key") == 0o600
