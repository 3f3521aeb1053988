"""Fixtures for template tests: the shipped registry and a deterministic link wrapper."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from flex_templates import TemplateRegistry, load_templates

PLACEHOLDER_IMAGE = "https://cdn.example.jp/noimage.png"


def fake_link(url: str, label: str) -> str:
    """Stands in for the tracking wrapper: reversible, so tests can see what was wrapped."""
    return f"https://bot.example.jp/r/{quote(label, safe='')}?to={quote(url, safe='')}"


@pytest.fixture(scope="session")
def registry() -> TemplateRegistry:
    """The shipped templates, validated once per session."""
    return load_templates(None, placeholder_image_url=PLACEHOLDER_IMAGE, timezone="Asia/Tokyo")
