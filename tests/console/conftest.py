"""Console fixtures: staff accounts, a shopper with an escalated chat, signed-in clients."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.models import OperatorRole
from tests.helpers.console import login, make_operator, open_ticket


@pytest.fixture
def operator_id(app: Flask) -> int:
    return make_operator(app, "sato@example.jp", "佐藤")


@pytest.fixture
def other_id(app: Flask) -> int:
    return make_operator(app, "suzuki@example.jp", "鈴木")


@pytest.fixture
def admin_id(app: Flask) -> int:
    return make_operator(app, "kanri@example.jp", "管理 太郎", OperatorRole.ADMIN)


@pytest.fixture
def ticket_id(app: Flask) -> int:
    return open_ticket(app)


@pytest.fixture
def as_operator(app: Flask, operator_id: int) -> FlaskClient:
    client = app.test_client()
    assert login(client, "sato@example.jp").status_code == 303
    return client


@pytest.fixture
def as_other(app: Flask, other_id: int) -> FlaskClient:
    client = app.test_client()
    assert login(client, "suzuki@example.jp").status_code == 303
    return client


@pytest.fixture
def as_admin(app: Flask, admin_id: int) -> FlaskClient:
    client = app.test_client()
    assert login(client, "kanri@example.jp").status_code == 303
    return client
