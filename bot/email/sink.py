"""A local SMTP server that keeps what it receives: dev mode's mailbox and the tests'.

It speaks real SMTP (aiosmtpd, in a thread of its own) on loopback. Every message is kept in
memory and, given a directory, written there as `<n>.eml`, where the dev tools page reads it.
Production never runs it.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server took it."""

    name: str
    sender: str
    recipients: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def part(self, subtype: str) -> str:
        """The text/<subtype> body ("plain" or "html"), decoded."""
        body = self.message.get_body(preferencelist=(subtype,))
        if body is None or body.get_content_subtype() != subtype:
            return ""
        return str(body.get_content())


@dataclass
class MailSink:
    """aiosmtpd handler: keeps each message; `refuse` answers DATA with a code instead."""

    directory: Path | None = None
    received: list[ReceivedMail] = field(default_factory=list)
    refuse: str | None = None  # e.g. "550 5.1.1 no such user" or "451 4.3.0 try later"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _names: Any = field(default_factory=lambda: itertools.count(1))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse is not None:
            return self.refuse
        raw = envelope.original_content or envelope.content
        with self._lock:
            name = f"{time.time_ns()}-{next(self._names)}"
            mail = ReceivedMail(name, envelope.mail_from, tuple(envelope.rcpt_tos), bytes(raw))
            self.received.append(mail)
            if self.directory is not None:
                self.directory.mkdir(parents=True, exist_ok=True)
                (self.directory / f"{name}.eml").write_bytes(mail.raw)
        return "250 2.0.0 OK: queued"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def start(sink: MailSink, host: str = "127.0.0.1", port: int = 0) -> Controller:
    """Run the server in a thread (port 0: a free one); `controller.port` is where it
    listens. Stop it with `controller.stop()`."""
    controller = Controller(sink, hostname=host, port=port or free_port(host), ready_timeout=10)
    controller.start()
    return controller


def mailbox(directory: Path, limit: int = 50) -> list[ReceivedMail]:
    """The newest messages written to a directory by a sink (dev mode's mailbox)."""
    if not directory.is_dir():
        return []
    files = sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    mails = []
    for path in files[:limit]:
        raw = path.read_bytes()
        parsed = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        mails.append(
            ReceivedMail(path.stem, str(parsed.get("From", "")), (str(parsed.get("To", "")),), raw)
        )
    return mails
