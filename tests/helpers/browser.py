"""Headless Chromium for the browser tests: a page that records every script error, failed
load and Content-Security-Policy violation, and the folder the screenshots are saved in."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Debian's chromium package (never a browser downloaded by Playwright); CHROMIUM_PATH overrides.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Runs before the page's own scripts (Playwright injects it past the CSP): every violation
# the browser reports, including those it only logs, such as a refused inline style.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return "chromium is missing (apt-get install -y chromium fonts-noto-cjk)"
    return None


@contextmanager
def browser_page(width: int, height: int) -> Iterator[Any]:
    """A fresh page; `page.errors` collects script errors, failed loads and CSP violations.

    Skips the test when no browser is installed, and fails it in CI.
    """
    reason = missing_browser()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height}, locale="ja-JP")
        page.set_default_timeout(10_000)
        page.add_init_script(RECORD_CSP_VIOLATIONS)
        errors: list[str] = []
        # A CSP violation is logged as a console error too ("Refused to apply inline style").
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text
                else None
            ),
        )
        # Failed loads by address; the browser's own favicon request is not the page's.
        page.on(
            "response",
            lambda r: (
                errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.errors = errors
        try:
            yield page
        finally:
            browser.close()


def page_problems(page: Any) -> list[str]:
    """Everything recorded on the page so far, with the CSP violations of the current
    document (an empty list when all was well)."""
    violations = page.evaluate("() => window.__cspViolations || []")
    return [*page.errors, *(f"CSP: {v}" for v in violations)]
