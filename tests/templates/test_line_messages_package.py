"""LINE's message rules live in `line_messages`; production code never loads the emulator."""

from __future__ import annotations

import subprocess
import sys

import line_emulator
import line_messages


def test_production_modules_do_not_import_the_emulator() -> None:
    code = (
        "import sys, bot, worker, handlers, flex_templates, bot.delivery.sender, "
        "bot.delivery.api, bot.delivery.tracking_view\n"
        "print(sorted(m for m in sys.modules if m.startswith('line_emulator')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_emulator_enforces_the_shared_rules() -> None:
    assert line_emulator.validate_messages is line_messages.validate_messages
