"""LINE's rules for message objects, shared by the bot (before it pushes) and the emulator.

Neither Flask nor the emulator is imported here: production checks what it renders against
the same limits the emulator enforces, without loading the emulator.
"""

from __future__ import annotations

from line_messages import validation
from line_messages.validation import *  # noqa: F403 - the package's names are validation's

__all__ = validation.__all__
