"""pytest plugin: a started LINE emulator per test.

Load it from a conftest with ``pytest_plugins = ["line_emulator.pytest_plugin"]``.
Override the ``line_emulator_settings`` fixture to match the app's test settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from line_emulator.server import EmulatorServer

TEST_CHANNEL_SECRET = "test-channel-secret"
TEST_CHANNEL_ACCESS_TOKEN = "test-channel-access-token"


@pytest.fixture
def line_emulator_settings() -> dict[str, Any]:
    """Keyword arguments for ``EmulatorServer``; override to change secrets or options."""
    return {
        "channel_secret": TEST_CHANNEL_SECRET,
        "channel_access_token": TEST_CHANNEL_ACCESS_TOKEN,
    }


@pytest.fixture
def line_emulator(line_emulator_settings: dict[str, Any]) -> Iterator[EmulatorServer]:
    """A started ``EmulatorServer`` (stopped after the test); ``.base_url`` is its API root."""
    server = EmulatorServer(**line_emulator_settings).start()
    try:
        yield server
    finally:
        server.stop()
