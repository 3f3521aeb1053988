"""Dev mode's first impressions: the playground's URL comes first, and the emulator's JSON
shows Japanese as Japanese."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from bot.devserver import banner
from line_emulator import EmulatorServer


def test_the_banner_names_the_playground_first() -> None:
    lines = [line for line in banner(8000, 8081).splitlines() if line.strip()]
    assert "http://127.0.0.1:8000/dev/playground" in lines[0]


def _raw(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        return exc.read()


def test_the_emulator_answers_japanese_without_escapes(emulator: EmulatorServer) -> None:
    user = emulator.add_user(display_name="佐藤 花子")
    # The SDK sends \\u escapes; the emulator must not echo them back.
    push = {"to": user["userId"], "messages": [{"type": "text", "text": "こんにちは"}]}
    request = urllib.request.Request(
        f"{emulator.base_url}/v2/bot/message/push",
        data=json.dumps(push).encode(),
        headers={
            "Authorization": f"Bearer {emulator.channel_access_token}",
            "Content-Type": "application/json",
        },
    )
    urllib.request.urlopen(request, timeout=5).read()
    for path in ("users", f"users/{user['userId']}/inbox", "requests", "nothing-here"):
        raw = _raw(f"{emulator.base_url}/_emulator/{path}")
        assert b"\\u" not in raw, path
    assert "佐藤 花子".encode() in _raw(f"{emulator.base_url}/_emulator/users")
    assert "こんにちは".encode() in _raw(f"{emulator.base_url}/_emulator/requests")
