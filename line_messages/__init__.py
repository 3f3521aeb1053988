"""LINE's rules for message objects, shared by the bot (before it pushes) and the emulator.

Neither Flask nor the emulator is imported here: production checks what it renders against
the same limits the emulator enforces, without loading the emulator.
"""

from __future__ import annotations

from line_messages.validation import (
    ALT_TEXT_MAX,
    BUBBLE_MAX_BYTES,
    CAROUSEL_MAX_BUBBLES,
    CAROUSEL_MAX_BYTES,
    MAX_MESSAGES,
    QUICK_REPLY_MAX_ITEMS,
    TEXT_MAX,
    URI_MAX,
    grapheme_len,
    json_size,
    utf16_len,
    validate_message,
    validate_messages,
    warm_up,
)

__all__ = [
    "ALT_TEXT_MAX",
    "BUBBLE_MAX_BYTES",
    "CAROUSEL_MAX_BUBBLES",
    "CAROUSEL_MAX_BYTES",
    "MAX_MESSAGES",
    "QUICK_REPLY_MAX_ITEMS",
    "TEXT_MAX",
    "URI_MAX",
    "grapheme_len",
    "json_size",
    "utf16_len",
    "validate_message",
    "validate_messages",
    "warm_up",
]
