"""Fixtures for the LINE emulator's own tests: a started emulator and a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from line_emulator.clock import ManualClock
from line_emulator.pytest_plugin import (  # noqa: F401  (fixtures)
    TEST_CHANNEL_ACCESS_TOKEN,
    TEST_CHANNEL_SECRET,
    line_emulator,
    line_emulator_settings,
)
from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on a free port."""
    server = WebhookReceiver()
    yield server
    server.stop()


@pytest.fixture
def clock() -> ManualClock:
    """A frozen clock the test moves by hand."""
    return ManualClock(start=1_760_000_000.0)


@pytest.fixture
def emu(clock: ManualClock, receiver: WebhookReceiver) -> Iterator[EmulatorServer]:
    """A started emulator on a manual clock, sending webhooks to ``receiver``."""
    server = EmulatorServer(
        TEST_CHANNEL_SECRET,
        TEST_CHANNEL_ACCESS_TOKEN,
        webhook_url=receiver.url,
        clock=clock,
    ).start()
    yield server
    server.stop()


@pytest.fixture
def api(emu: EmulatorServer) -> Iterator[Api]:
    """An authorized HTTP client for ``emu``."""
    client = Api(emu.base_url)
    yield client
    client.close()
