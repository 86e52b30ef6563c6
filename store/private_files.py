"""Local data readable by its owner only: ``.data/`` and what we write in it (the SQLite store
with ticket text, the Temporal dev server's database with every workflow history, secrets,
logs, pid files, undelivered events) are created 0700 (folders) and 0600 (files), whatever the
umask of the process that writes them.

Only what we create gets these modes: a folder that already exists (a Kubernetes secrets
mount, /var/lib/…) keeps the ones its owner gave it. Processes we start (the dev server, the
worker, the API of ``make demo``) run with ``OWNER_ONLY_UMASK``, so what they create, including
files whose modes we do not choose (SQLite's, the dev server's), is owner-only too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
OWNER_ONLY_UMASK = 0o077


def private_folder(path: Path) -> Path:
    """``path`` as a folder, creating it and any missing parents 0700."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue  # another process made it first: it made it with these modes too
        # mkdir's mode is filtered by the umask; chmod is not.
        folder.chmod(PRIVATE_FOLDER)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file, created empty and 0600 (in a private folder) if it is missing; an
    existing file is left as it is."""
    private_folder(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return path
    os.close(descriptor)
    path.chmod(PRIVATE_FILE)
    return path


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path``'s text; a new file is 0600."""
    private_file(path)
    path.write_text(text, encoding="utf-8")


def open_private_log(path: Path) -> IO[bytes]:
    """``path`` opened for appending bytes; a new file is 0600."""
    return open(private_file(path), "ab")
