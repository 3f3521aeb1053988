"""A local SMS provider that speaks Twilio's Programmable Messaging API (tests, dev mode).

Production never imports it. See `python -m sms_emulator --help`.
"""

from sms_emulator.core import ApiError, EmulatedMessage, SmsEmulator, WebhookResult, signature
from sms_emulator.server import EmulatorServer

__all__ = [
    "ApiError",
    "EmulatedMessage",
    "EmulatorServer",
    "SmsEmulator",
    "WebhookResult",
    "signature",
]
