"""Golden tests: each template rendered from its sample data must match the stored JSON.

After an intended change to a layout, builder or sample, regenerate the golden files with
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/templates/test_golden.py
and review the diff before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flex_templates import TemplateRegistry
from flex_templates.registry import SPECS
from tests.helpers.templates import fake_link

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_rendered_sample_matches_golden(registry: TemplateRegistry, name: str) -> None:
    message = registry.render(name, registry.sample(name), link=fake_link)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(message, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert path.exists(), f"missing {path.name}: run with UPDATE_GOLDEN=1 to create it"
    assert message == json.loads(path.read_text(encoding="utf-8"))
