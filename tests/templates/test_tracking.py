"""Click-tracking tokens: signature, tampering, expiry, and UTM merging."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from bot.delivery.tracking import InvalidLink, LinkClaims, add_utm, sign_link, verify_link

SECRET = b"test-tracking-secret"
NOW = datetime(2025, 7, 1, 3, 0, tzinfo=UTC)
TARGET = "https://shop.example.jp/cart?coupon=夏&x=1#items"


def _sign(**overrides: object) -> str:
    args: dict[str, object] = {
        "url": "https://shop.example.jp/cart?id=42",
        "delivery_id": 7,
        "shopper_id": 3,
        "campaign": "cart_reminder",
        "content": "お買い物かごを見る",
        "expires_at": NOW + timedelta(days=30),
    }
    args.update(overrides)
    return sign_link(SECRET, **args)  # type: ignore[arg-type]


def _reencode(token: str, mutate) -> str:  # type: ignore[no-untyped-def]
    payload, _, signature = token.partition(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    mutate(body)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + signature


def test_round_trip_returns_the_signed_claims() -> None:
    token = _sign()
    assert verify_link(SECRET, token, NOW) == LinkClaims(
        url="https://shop.example.jp/cart?id=42",
        delivery_id=7,
        shopper_id=3,
        campaign="cart_reminder",
        content="お買い物かごを見る",
        expires_at=NOW + timedelta(days=30),
    )


def test_token_is_url_safe_and_compact() -> None:
    token = _sign()
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert len(token) < 200


def test_optional_ids_may_be_none() -> None:
    claims = verify_link(SECRET, _sign(delivery_id=None, shopper_id=None), NOW)
    assert claims.delivery_id is None
    assert claims.shopper_id is None


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(InvalidLink):
        verify_link(b"another-secret", _sign(), NOW)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda body: body.__setitem__(1, "https://evil.example.com/"),
        lambda body: body.__setitem__(2, 8),
        lambda body: body.__setitem__(3, 4),
        lambda body: body.__setitem__(6, body[6] + 86400 * 365),
    ],
    ids=["url", "delivery", "shopper", "expiry"],
)
def test_altered_payload_is_rejected(mutate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidLink, match="signature"):
        verify_link(SECRET, _reencode(_sign(), mutate), NOW)


@pytest.mark.parametrize("token", ["", "abc", "abc.", ".abc", "é.é", "!!.??"])
def test_malformed_tokens_are_rejected(token: str) -> None:
    with pytest.raises(InvalidLink):
        verify_link(SECRET, token, NOW)


def test_flipped_signature_character_is_rejected() -> None:
    token = _sign()
    last = "A" if token[-1] != "A" else "B"
    with pytest.raises(InvalidLink):
        verify_link(SECRET, token[:-1] + last, NOW)


def test_expired_token_is_rejected_at_and_after_expiry() -> None:
    expires = NOW + timedelta(hours=1)
    token = _sign(expires_at=expires)
    assert verify_link(SECRET, token, expires - timedelta(seconds=1)).url
    with pytest.raises(InvalidLink, match="expired"):
        verify_link(SECRET, token, expires)


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://shop.example.jp/x", "line://nv/chat", "/relative/path"]
)
def test_only_http_targets_can_be_signed(url: str) -> None:
    with pytest.raises(ValueError):
        _sign(url=url)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        _sign(expires_at=datetime(2025, 7, 1))
    with pytest.raises(ValueError):
        verify_link(SECRET, _sign(), datetime(2025, 7, 1))


def test_add_utm_keeps_query_and_fragment() -> None:
    url = add_utm("https://shop.example.jp/cart?coupon=%E5%A4%8F&x=1#items", "cart_2", "カート")
    parts = urlsplit(url)
    assert parts.fragment == "items"
    assert parts.query.startswith("coupon=%E5%A4%8F&x=1&")
    assert parse_qsl(parts.query) == [
        ("coupon", "夏"),
        ("x", "1"),
        ("utm_source", "line"),
        ("utm_medium", "message"),
        ("utm_campaign", "cart_2"),
        ("utm_content", "カート"),
    ]


def test_add_utm_replaces_existing_utm_values_only() -> None:
    url = add_utm("https://shop.example.jp/?utm_source=mail&utm_term=x&a=b", "c", "d")
    query = parse_qsl(urlsplit(url).query)
    assert ("utm_source", "mail") not in query
    assert ("utm_source", "line") in query
    assert ("utm_term", "x") in query
    assert ("a", "b") in query


def test_add_utm_without_query() -> None:
    url = add_utm("http://shop.example.jp/items/1", "c&x", "d e")
    assert url == (
        "http://shop.example.jp/items/1?utm_source=line&utm_medium=message"
        "&utm_campaign=c%26x&utm_content=d%20e"
    )


def test_add_utm_refuses_other_schemes() -> None:
    with pytest.raises(ValueError):
        add_utm("javascript:alert(1)", "c", "d")


def test_target_with_unicode_survives_round_trip() -> None:
    claims = verify_link(SECRET, _sign(url=TARGET), NOW)
    assert claims.url == TARGET
