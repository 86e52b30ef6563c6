"""The demo's mail server: a real SMTP server (aiosmtpd) on loopback that keeps every message it
receives as a ``.eml`` file in a folder, so a new user sees what the service e-mails (the
notices, digests and the customer's signoff e-mail) without a mail account.

    python -m devtools.demo_mail --port 8025 --folder .data/demo-mail

``make demo`` starts it (devtools/local_stack.py) and points the worker at it; it is never a
production mail server: it accepts anything, from anyone on this machine, and delivers nothing.
"""

from __future__ import annotations

import argparse
import signal
import threading
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from store.private_files import private_folder, write_private_text


class _Mailbox:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self._lock:
            number = len(list(self._folder.glob("*.eml"))) + 1
            path = self._folder / f"{number:05d}.eml"
            write_private_text(path, content.decode("utf-8", "replace"))
        return "250 kept for the demo"


def mailbox(folder: Path) -> list[tuple[str, str, str]]:
    """(file, to, subject) of each message kept, oldest first."""
    found = []
    for path in sorted(folder.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found.append((path.name, str(message["To"]), str(message["Subject"]).strip()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args()
    private_folder(args.folder)
    controller = Controller(_Mailbox(args.folder), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
