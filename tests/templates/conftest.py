"""Fixtures for template tests: the shipped registry."""

from __future__ import annotations

import pytest

from flex_templates import TemplateRegistry, load_templates
from tests.helpers.templates import PLACEHOLDER_IMAGE


@pytest.fixture(scope="session")
def registry() -> TemplateRegistry:
    """The shipped templates, validated once per session."""
    return load_templates(None, placeholder_image_url=PLACEHOLDER_IMAGE, timezone="Asia/Tokyo")
