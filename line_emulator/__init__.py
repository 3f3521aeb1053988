"""A faithful fake of the LINE Messaging API platform, for tests and dev mode.

* ``EmulatorServer`` serves the emulated API on a real port and acts as shoppers
  (signed webhooks to the bot).
* ``validate_messages`` checks message objects against LINE's documented limits
  without any server.
* ``python -m line_emulator`` runs it in the foreground; ``/_emulator/...`` is its
  control API and ``EmulatorClient`` drives that from another process.
"""

from __future__ import annotations

from line_emulator.client import EmulatorClient
from line_emulator.clock import AdjustableClock, ManualClock, SystemClock
from line_emulator.core import (
    MONTHLY_LIMIT_BODY,
    RATE_LIMIT_BODY,
    ApiResponse,
    EmulatorError,
    LineEmulator,
    WebhookResult,
    sign,
)
from line_emulator.server import EmulatorServer
from line_messages.validation import validate_message, validate_messages

__all__ = [
    "MONTHLY_LIMIT_BODY",
    "RATE_LIMIT_BODY",
    "AdjustableClock",
    "ApiResponse",
    "EmulatorClient",
    "EmulatorError",
    "EmulatorServer",
    "LineEmulator",
    "ManualClock",
    "SystemClock",
    "WebhookResult",
    "sign",
    "validate_message",
    "validate_messages",
]
