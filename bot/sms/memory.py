"""An in-memory SMS provider for unit tests: keeps what was sent, fails on request."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.sms.provider import SmsRejected, SmsSent, SmsUnavailable


@dataclass(frozen=True)
class SentSms:
    to: str
    body: str
    reference: str
    status_callback: str | None
    provider_message_id: str


@dataclass
class InMemorySmsProvider:
    """Takes every message, except to `rejected` numbers (SmsRejected, code 21211) or while
    `unavailable` (SmsUnavailable)."""

    sent: list[SentSms] = field(default_factory=list)
    rejected: set[str] = field(default_factory=set)
    unavailable: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def send(
        self, to: str, body: str, *, reference: str, status_callback: str | None = None
    ) -> SmsSent:
        if self.unavailable:
            raise SmsUnavailable("provider unavailable", "503")
        if to in self.rejected:
            raise SmsRejected(f"the 'To' number {to} is not a valid phone number", "21211")
        sid = f"SM{next(self._ids):032x}"
        self.sent.append(SentSms(to, body, reference, status_callback, sid))
        return SmsSent(provider_message_id=sid, status="queued")
