"""Fixtures for the FAQ matcher tests: the shared FAQ, the sample FAQ and their matchers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.faq.file_format import FaqEntry, load_faq_file
from bot.faq.matcher import FaqMatcher

REPO = Path(__file__).resolve().parents[2]
SHARED_FAQ = REPO / ".." / "shared" / "faq"
HELDOUT = Path(__file__).resolve().parent / "heldout.tsv"


@pytest.fixture(scope="session")
def shared_faq_dir() -> Path:
    """The shared FAQ folder beside the repository (CI has it)."""
    if not (SHARED_FAQ / "faq.yaml").exists():
        pytest.skip(f"shared FAQ data not found at {SHARED_FAQ}")
    return SHARED_FAQ


@pytest.fixture(scope="session")
def shared_entries(shared_faq_dir: Path) -> list[FaqEntry]:
    """Entries of the shared FAQ."""
    return load_faq_file(shared_faq_dir / "faq.yaml")


@pytest.fixture(scope="session")
def shared_matcher(shared_entries: list[FaqEntry]) -> FaqMatcher:
    """A matcher over the shared FAQ."""
    return FaqMatcher.build(shared_entries)


@pytest.fixture(scope="session")
def sample_entries() -> list[FaqEntry]:
    """Entries of the project's own sample FAQ."""
    return load_faq_file(REPO / "data" / "faq_sample.yaml")


@pytest.fixture(scope="session")
def sample_matcher(sample_entries: list[FaqEntry]) -> FaqMatcher:
    """A matcher over the sample FAQ."""
    return FaqMatcher.build(sample_entries)
