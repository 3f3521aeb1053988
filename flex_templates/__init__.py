"""Flex message templates: JSON layouts with placeholders and the renderer that fills them."""

from __future__ import annotations

from flex_templates.builders import RenderEnv, TemplateDataError
from flex_templates.engine import LinkWrapper
from flex_templates.registry import TemplateError, TemplateRegistry, load_templates

__all__ = [
    "LinkWrapper",
    "RenderEnv",
    "TemplateDataError",
    "TemplateError",
    "TemplateRegistry",
    "load_templates",
]
