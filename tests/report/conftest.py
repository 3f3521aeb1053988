"""Report fixtures: the app on the test scenarios, staff signed in."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.line.gateway import InMemoryLineGateway
from bot.models import OperatorRole
from tests.helpers.console import FAST_PASSWORD_HASH, login, make_operator
from tests.helpers.report import scenario_file


@pytest.fixture
def app(
    settings: Settings, db: Database, redis: Redis, line: InMemoryLineGateway, tmp_path
) -> Flask:
    changed = settings.with_changes(
        password_hash_method=FAST_PASSWORD_HASH, scenarios_path=scenario_file(tmp_path)
    )
    return create_app(changed, line=line, redis=redis, database=db)


@pytest.fixture
def as_operator(app: Flask) -> FlaskClient:
    make_operator(app, "sato@example.jp", "佐藤")
    client = app.test_client()
    assert login(client, "sato@example.jp").status_code == 303
    return client


@pytest.fixture
def as_admin(app: Flask) -> FlaskClient:
    make_operator(app, "kanri@example.jp", "管理 太郎", OperatorRole.ADMIN)
    client = app.test_client()
    assert login(client, "kanri@example.jp").status_code == 303
    return client
