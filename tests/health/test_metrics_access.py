"""Who may read /metrics: open in development, a bearer token or nothing in production."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from redis import Redis

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.line.gateway import InMemoryLineGateway

TOKEN = "9b1f4c2e7d8a0b3c6e5f1a2d4c7b8e9f0a1b2c3d4e5f6a7b"


@pytest.fixture
def make_app(
    settings: Settings, db: Database, redis: Redis, line: InMemoryLineGateway
) -> Callable[..., Flask]:
    def make(**changes: object) -> Flask:
        return create_app(settings.with_changes(**changes), line=line, redis=redis, database=db)

    return make


def test_development_without_a_token_is_open(make_app: Callable[..., Flask]) -> None:
    response = make_app(env="development").test_client().get("/metrics")
    assert response.status_code == 200
    assert "bot_webhook_requests_total" in response.get_data(as_text=True)


def test_production_without_a_token_has_no_metrics(make_app: Callable[..., Flask]) -> None:
    response = make_app(env="production").test_client().get("/metrics")
    assert response.status_code == 404
    assert "METRICS_TOKEN" in response.get_data(as_text=True)
    assert "bot_webhook_requests_total" not in response.get_data(as_text=True)


@pytest.mark.parametrize("env", ["production", "development"])
@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Basic {TOKEN}", "Bearer", "Bearer wrong", f"Bearer {TOKEN[:-1]}", TOKEN],
    ids=["none", "empty", "basic", "no-token", "wrong", "prefix", "no-scheme"],
)
def test_a_set_token_is_required(
    make_app: Callable[..., Flask], env: str, authorization: str | None
) -> None:
    client = make_app(env=env, metrics_token=TOKEN).test_client()
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "bot_" not in response.get_data(as_text=True)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_the_bearer_token_prometheus_sends_is_accepted(
    make_app: Callable[..., Flask], scheme: str
) -> None:
    client = make_app(env="production", metrics_token=TOKEN).test_client()
    response = client.get("/metrics", headers={"Authorization": f"{scheme} {TOKEN}"})
    assert response.status_code == 200
    assert "bot_webhook_requests_total" in response.get_data(as_text=True)


def test_healthz_needs_no_token(make_app: Callable[..., Flask]) -> None:
    client = make_app(env="production", metrics_token=TOKEN).test_client()
    assert client.get("/healthz").status_code == 200
