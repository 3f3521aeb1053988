"""The SMS provider interface: send one text, learn its id, or a permanent or passing error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SmsSent:
    """The provider took the message: its id (receipts name it) and its first status."""

    provider_message_id: str
    status: str


class SmsError(Exception):
    """The provider did not take the message."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class SmsRejected(SmsError):
    """Permanent: the same request will never succeed (invalid number, refused content)."""


class SmsUnavailable(SmsError):
    """Passing: rate limited (429), a provider error (5xx), a timeout; retry later.

    `maybe_sent`: the request reached the provider and no answer came back (a read
    timeout), so the message may have gone out; `retry_after`: seconds the provider asked
    to wait, if it said.
    """

    def __init__(
        self,
        message: str,
        code: str | None = None,
        *,
        maybe_sent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code)
        self.maybe_sent = maybe_sent
        self.retry_after = retry_after


class SmsProvider(Protocol):
    """Sends SMS through one provider's HTTP API."""

    def send(
        self, to: str, body: str, *, reference: str, status_callback: str | None = None
    ) -> SmsSent:
        """Hand one message to the provider. `to` is E.164; `reference` is the caller's
        opaque id (e.g. "delivery:42"), stored with the message so receipts find it."""
        ...
