"""Shop links open only the shop's own hosts: at event intake and again at redirect time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.core.settings import ConfigError, Settings
from line_messages.links import has_userinfo, host_allowed
from tests.helpers.shop_api import ShopApi, tracking_token

SHOP = "https://shop.example.jp"
EVIL = "https://shop.example.jp@evil.example/p/2"


def _item(**overrides: Any) -> dict[str, Any]:
    item = {
        "sku": "TEA-1",
        "name": "宇治抹茶 100g",
        "price": 1800,
        "quantity": 1,
        "image_url": "https://cdn.example.net/tea.jpg",
        "product_url": f"{SHOP}/items/TEA-1",
    }
    return {**item, **overrides}


def _cart(url: str = f"{SHOP}/cart/C1", **item: Any) -> dict[str, Any]:
    return {
        "type": "cart.updated",
        "event_id": f"ev-{url}-{sorted(item.items())}",
        "occurred_at": "2025-07-01T10:00:00+09:00",
        "member_id": "M1",
        "cart": {
            "id": "C1",
            "url": url,
            "currency": "JPY",
            "subtotal": 1800,
            "items": [_item(**item)],
        },
    }


def _refused(api: ShopApi, body: dict[str, Any]) -> tuple[str, str]:
    response = api.post("/events", body)
    assert response.status_code == 400, response.json
    return response.json["error"]["field"], response.json["error"]["message"]


def test_a_product_url_with_userinfo_is_refused_naming_the_field(api: ShopApi) -> None:
    field, message = _refused(api, _cart(product_url=EVIL))
    assert field == "cart.items[0].product_url"
    assert "user@host" in message


def test_links_to_other_hosts_are_refused_naming_the_field(api: ShopApi) -> None:
    assert _refused(api, _cart(url="https://evil.example/cart"))[0] == "cart.url"
    field, message = _refused(api, _cart(product_url="https://shop.example.jp.evil.example/p"))
    assert field == "cart.items[0].product_url" and "LINK_HOSTS" in message
    shipped = {
        "type": "order.shipped",
        "event_id": "ship-1",
        "occurred_at": "2025-07-01T10:00:00+09:00",
        "member_id": "M1",
        "order_id": "O1",
        "carrier": "ヤマト運輸",
        "tracking_number": "4912",
        "tracking_url": "https://evil.example/track",
    }
    assert _refused(api, shipped)[0] == "tracking_url"
    restock = {
        "type": "product.restocked",
        "event_id": "restock-1",
        "occurred_at": "2025-07-01T10:00:00+09:00",
        "sku": "TEA-1",
        "name": "宇治抹茶 100g",
        "product_url": "http://evil.example/p",
    }
    assert _refused(api, restock)[0] == "product_url"


def test_images_may_live_on_a_cdn_but_not_carry_userinfo(api: ShopApi) -> None:
    assert api.post("/events", _cart()).status_code == 202
    field, _ = _refused(api, _cart(image_url="https://cdn.example.net@evil.example/x.jpg"))
    assert field == "cart.items[0].image_url"


def test_the_shops_hosts_are_accepted_in_any_case_and_with_a_port(api: ShopApi) -> None:
    body = _cart(url="HTTPS://Shop.Example.JP:8443/cart/C1")
    assert api.post("/events", body).status_code == 202


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://shop.example.jp/p/1", True),
        ("https://shop.example.jp./p/1", True),
        ("https://www.example.jp/p/1", True),
        ("https://example.jp/p/1", False),  # `*.example.jp` is subdomains only
        ("https://shop.example.jp@evil.example/p/2", False),
        ("https://user:pw@shop.example.jp/", False),
        ("https://evil.example\\.shop.example.jp/", False),
        ("https://evil.example#@shop.example.jp", False),
        ("https://evilshop.example.jp.evil.example/", False),
        ("javascript://shop.example.jp/%0aalert(1)", False),
        ("https://shop%2eexample.jp/", False),
    ],
)
def test_host_allowed(url: str, allowed: bool) -> None:
    assert host_allowed(url, {"shop.example.jp", "*.example.jp"}) is allowed


def test_userinfo_is_spotted_but_an_at_sign_in_the_path_is_fine() -> None:
    assert has_userinfo("https://a@b.example/")
    assert not has_userinfo("https://shop.example.jp/@shop/items")


# -- the setting -------------------------------------------------------------------------------

ENV = {
    "APP_ENV": "development",
    "SHOP_LINK_URL": "https://shop.example.jp/line/login",
    "PUBLIC_BASE_URL": "https://bot.example.com",
}


def test_link_hosts_default_to_the_shops_and_the_bots_own() -> None:
    settings = Settings.from_env(ENV)
    assert settings.allowed_link_hosts == {"shop.example.jp", "bot.example.com"}
    assert settings.help_url == "https://shop.example.jp/"


def test_link_hosts_setting_replaces_the_default() -> None:
    settings = Settings.from_env({**ENV, "LINK_HOSTS": " Shop.Example.JP, *.cdn.example.jp ,"})
    assert settings.allowed_link_hosts == {"shop.example.jp", "*.cdn.example.jp"}


@pytest.mark.parametrize("bad", ["https://shop.example.jp", "shop example", "*", "a@b"])
def test_a_malformed_link_host_stops_start_up_naming_the_setting(bad: str) -> None:
    with pytest.raises(ConfigError, match="LINK_HOSTS"):
        Settings.from_env({**ENV, "LINK_HOSTS": bad})


def test_a_help_url_off_the_link_hosts_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="SHOP_HELP_URL"):
        Settings.from_env({**ENV, "SHOP_HELP_URL": "https://help.other.example/contact"})
    settings = Settings.from_env({**ENV, "SHOP_HELP_URL": "https://shop.example.jp/contact"})
    assert settings.help_url == "https://shop.example.jp/contact"


# -- the redirect checks again ---------------------------------------------------------------


def test_redirect_refuses_a_signed_link_to_another_host(app: Flask, client: FlaskClient) -> None:
    # A token signed before hosts were checked (or a host since removed from LINK_HOSTS).
    response = client.get(f"/r/{tracking_token(app, 'https://evil.example/p/2')}")
    assert response.status_code == 404
    assert "Location" not in response.headers


def test_redirect_refuses_a_signed_link_with_userinfo(app: Flask, client: FlaskClient) -> None:
    settings = app.extensions["bot"].settings
    token = _signed_without_checks(settings.secret_key.encode(), EVIL)
    response = client.get(f"/r/{token}")
    assert response.status_code == 404
    assert "Location" not in response.headers


def test_redirect_follows_the_shops_own_link(app: Flask, client: FlaskClient) -> None:
    response = client.get(f"/r/{tracking_token(app, f'{SHOP}/items/TEA-1')}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{SHOP}/items/TEA-1?utm_source=line")


def _signed_without_checks(secret: bytes, url: str) -> str:
    """A validly signed token for any URL, as an older release could have issued."""
    expires = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    body = [1, url, None, None, "c", "x", expires]
    raw = json.dumps(body, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:16]
    return f"{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def test_served_document_names_the_link_hosts(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").json
    item = doc["components"]["schemas"]["ShopEventItem"]["properties"]
    pattern = item["product_url"]["pattern"]
    assert re.search(pattern, "https://shop.example.jp/items/1")
    assert not re.search(pattern, "https://evil.example/items/1")
    assert not re.search(pattern, EVIL)
    assert "x-shop-link" not in item["image_url"]
    assert not re.search(item["image_url"]["pattern"], "https://a@cdn.example.net/x.jpg")
