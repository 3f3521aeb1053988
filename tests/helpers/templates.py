"""Template test helpers: the placeholder image and a deterministic stand-in for link wrapping."""

from __future__ import annotations

from urllib.parse import quote

PLACEHOLDER_IMAGE = "https://cdn.example.jp/noimage.png"


def fake_link(url: str, label: str) -> str:
    """Stands in for the tracking wrapper: reversible, so tests can see what was wrapped."""
    return f"https://bot.example.jp/r/{quote(label, safe='')}?to={quote(url, safe='')}"
