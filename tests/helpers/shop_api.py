"""Helpers for calling the shop API with real signatures."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot.delivery.tracking import sign_link
from bot.shop_api.auth import signed_headers

SHOP_SECRET = "test-shop-api-secret"
OTHER_USER_ID = "U" + "2" * 32


class Signer:
    """Signs requests as a well-behaved shop client does: each signature used once."""

    def __init__(self, secret: str = SHOP_SECRET) -> None:
        self.secret = secret
        self._used: set[tuple[int, str, bytes, bytes]] = set()

    def headers(
        self, method: str, target: str | bytes, body: bytes, timestamp: int | None = None
    ) -> dict[str, str]:
        """Both auth headers; an explicit `timestamp` is used as given, replay or not."""
        raw_target = target.encode() if isinstance(target, str) else target
        ts = int(timestamp or time.time())
        if timestamp is None:
            # The same request twice within one second has the same signature, and the API
            # accepts a signature once: like a real client, sign the repeat a second later.
            while (ts, method, raw_target, body) in self._used:
                ts += 1
        self._used.add((ts, method, raw_target, body))
        return signed_headers(self.secret, ts, method, raw_target, body)


class ShopApi:
    """A signing client for /api/v1 over the Flask test client, from one source address."""

    def __init__(
        self, client: FlaskClient, secret: str = SHOP_SECRET, source: str = "127.0.0.1"
    ) -> None:
        self.client = client
        self.signer = Signer(secret)
        self.environ = {"REMOTE_ADDR": source}

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
        target = f"/api/v1{path}"
        sent = self.signer.headers(method, target, data, timestamp)
        if data:
            sent["Content-Type"] = "application/json"
        if key is not None:
            sent["Idempotency-Key"] = key
        sent.update(headers or {})
        return self.client.open(
            target, method=method, data=data, headers=sent, environ_base=self.environ
        )

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
