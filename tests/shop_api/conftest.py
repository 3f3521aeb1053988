"""Helpers for calling the shop API with real signatures."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot.shop_api.auth import signed_headers
from bot.tracking import sign_link

SHOP_SECRET = "test-shop-api-secret"
OTHER_USER_ID = "U" + "2" * 32


class ShopApi:
    """A signing client for /api/v1 over the Flask test client."""

    def __init__(self, client: FlaskClient, secret: str = SHOP_SECRET) -> None:
        self.client = client
        self.secret = secret

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        key: str | None = None,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> TestResponse:
        data = raw if raw is not None else b""
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
        sent = signed_headers(self.secret, int(timestamp or time.time()), data)
        if data:
            sent["Content-Type"] = "application/json"
        if key is not None:
            sent["Idempotency-Key"] = key
        sent.update(headers or {})
        return self.client.open(f"/api/v1{path}", method=method, data=data, headers=sent)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> TestResponse:
        return self.call("POST", path, body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("GET", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("DELETE", path, **kwargs)


def tracking_token(app: Flask, url: str, *, stored: bool = False) -> str:
    """A tracking token signed with the app's secret, valid for a day, for `url`."""
    return sign_link(
        app.extensions["bot"].settings.secret_key.encode(),
        url=url,
        delivery_id=None,
        shopper_id=None,
        campaign="cart_abandonment",
        content="reminder-default",
        expires_at=datetime.now(UTC) + timedelta(days=1),
        stored=stored,
    )


@pytest.fixture
def api(client: FlaskClient) -> ShopApi:
    return ShopApi(client)
