"""The segment tests run the shipped scenario file with its segmented cart example turned on
(and the plain cart reminders off), plus what a test module adds with `extra_scenarios`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.settings import Settings
from bot.delivery.scenarios import DEFAULT_SCENARIOS_PATH


@pytest.fixture
def extra_scenarios() -> dict[str, Any]:
    """Scenarios a test module adds to the file (none by default)."""
    return {}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, extra_scenarios: dict[str, Any]) -> Settings:
    doc = yaml.safe_load(DEFAULT_SCENARIOS_PATH.read_text(encoding="utf-8"))
    doc["scenarios"]["cart_abandonment"]["enabled"] = False
    doc["scenarios"]["cart_abandonment_by_customer"]["enabled"] = True
    doc["scenarios"].update(extra_scenarios)
    path = tmp_path / "scenarios.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return settings.with_changes(scenarios_path=path)
