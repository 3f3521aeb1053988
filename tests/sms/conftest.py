"""SMS fixtures: the SMS emulator on a real socket and the bot served over HTTP beside it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bot.app import create_app
from bot.core.settings import Settings
from sms_emulator import EmulatorServer
from tests.helpers.sms import ACCOUNT_SID, AUTH_TOKEN, SENDER


@pytest.fixture
def sms_emulator() -> Iterator[EmulatorServer]:
    """The SMS emulator with the test account, its sender number and a roomy rate limit."""
    server = EmulatorServer(ACCOUNT_SID, AUTH_TOKEN, numbers=[SENDER], rate_limit=50)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sms_settings(settings: Settings, sms_emulator: EmulatorServer) -> Settings:
    return settings.with_changes(
        sms_account_sid=ACCOUNT_SID,
        sms_auth_token=AUTH_TOKEN,
        sms_from=SENDER,
        sms_api_base_url=sms_emulator.base_url,
        sms_read_timeout=2.0,
    )


class _Later:
    """A WSGI app set after the socket is bound: the bot's settings need the server's URL."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture
def sms_bot(sms_settings, db, redis, line, sms_emulator) -> Iterator[Flask]:
    """The bot served over HTTP; its PUBLIC_BASE_URL is where the emulator posts webhooks."""
    later = _Later()
    server = make_server("127.0.0.1", 0, later, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app = create_app(
        sms_settings.with_changes(public_base_url=url), line=line, redis=redis, database=db
    )
    later.app = app
    sms_emulator.inbound_url = f"{url}/sms/inbound"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield app
    server.shutdown()
    thread.join(timeout=5)
