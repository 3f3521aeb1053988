"""Shop API bodies nested too deeply or not UTF-8 get a 400 naming the problem."""

from __future__ import annotations

import pytest

from tests.helpers.shop_api import ShopApi


@pytest.mark.parametrize("depth", [100_000, 200])
@pytest.mark.parametrize("path", ["/events", "/links", "/link-nonces"])
def test_deeply_nested_json_is_refused(api: ShopApi, path: str, depth: int):
    body = b'{"type": "cart.updated", "cart": ' + b"[" * depth + b"]" * depth + b"}"
    response = api.post(path, raw=body)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "invalid_json"
    assert "nested more than 32 levels" in error["message"]


def test_surrogates_written_as_utf8_bytes_are_refused(api: ShopApi):
    body = b'{"type": "cart.updated", "event_id": "E\xed\xa0\x80"}'
    response = api.post("/events", raw=body)
    assert response.status_code == 400
    assert "UTF-8" in response.json["error"]["message"]
