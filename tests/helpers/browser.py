"""Headless-browser helpers: Debian's Chromium driven by Playwright, and where screenshots go."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Debian's chromium package (never a browser downloaded by Playwright); CHROMIUM_PATH overrides.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return "chromium is missing (apt-get install -y chromium fonts-noto-cjk)"
    return None
