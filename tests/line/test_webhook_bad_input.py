"""Signed webhook bodies that are not valid LINE payloads get a 400 with a reason, never a 5xx."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import func, select

from bot.line.webhook_events import sign_body
from bot.models import WebhookEvent
from tests.helpers.line import TEST_SECRET, load_webhook


def _post(client, body: bytes):
    return client.post(
        "/callback",
        data=body,
        headers={"X-Line-Signature": sign_body(TEST_SECRET, body)},
    )


def _stored(app) -> int:
    with app.app_context():
        session = app.extensions["db"].session()
        return session.scalar(select(func.count()).select_from(WebhookEvent))


def _text_body(text: str = "PLACEHOLDER", event_id: str = "01JFUZZ") -> bytes:
    event = load_webhook("message__text", webhookEventId=event_id)
    event["message"] = dict(event["message"], text=text)
    return json.dumps({"destination": "Uxxxxxxxx", "events": [event]}).encode()


@pytest.mark.parametrize("depth", [100_000, 5_000, 200])
def test_deeply_nested_json_is_refused_with_a_reason(app, client, depth):
    nested = b"[" * depth + b"]" * depth
    body = _text_body().replace(b'"PLACEHOLDER"', nested)
    response = _post(client, body)
    assert response.status_code == 400
    assert "nested" in response.get_json()["error"]["message"]
    assert _stored(app) == 0


def test_nesting_a_real_webhook_uses_is_kept(app, client):
    # Postback params, emojis and mention lists nest a few levels; 20 leaves ample room.
    nested = b'{"a":' * 20 + b"1" + b"}" * 20
    body = _text_body().replace(b'"PLACEHOLDER"', b'"ok", "extra": ' + nested)
    assert _post(client, body).status_code == 200
    assert _stored(app) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"\xed\xa0\xbd",  # half a surrogate pair written as (invalid) UTF-8
        b"\xed\xa0\xbd\xed\xb8\x80",  # a whole pair written as two (invalid) UTF-8 halves
        b"\xff\xfe",
        b"\xe3\x81",  # a truncated character
    ],
)
def test_a_body_that_is_not_utf8_is_refused(app, client, raw):
    response = _post(client, _text_body().replace(b"PLACEHOLDER", b"abc" + raw + b"def"))
    assert response.status_code == 400
    assert "UTF-8" in response.get_json()["error"]["message"]
    assert _stored(app) == 0


def test_a_body_in_utf16_is_refused(app, client):
    body = _text_body("こんにちは").decode().encode("utf-16")
    response = _post(client, body)
    assert response.status_code == 400
    assert _stored(app) == 0


# Byte strings the fuzz splices into the text of a valid signed body.
_NASTY = [
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xc0\xaf",  # overlong
    b"\x80",
    b"\xff",
    b"\\ud800",
    b"\\udfff",
    b"\\u0000",
    b"\x00",
    b'"',
    b"\\",
    b"[" * 3000,
    "あ😀".encode(),
    b"\\ud83d\\ude00",
]


def _mutated(rng: random.Random, index: int) -> bytes:
    body = _text_body(event_id=f"01JFUZZ{index:05d}")
    pieces = [rng.choice(_NASTY) if rng.random() < 0.7 else bytes([rng.randrange(256)])]
    pieces += [rng.choice(_NASTY) for _ in range(rng.randrange(3))]
    return body.replace(b"PLACEHOLDER", b"".join(pieces))


@pytest.mark.timeout(300)
def test_a_seeded_fuzz_of_signed_bodies_never_gets_a_5xx(app, client):
    rng = random.Random(20241127)
    statuses: dict[int, int] = {}
    for index in range(300):
        response = _post(client, _mutated(rng, index))
        assert response.status_code < 500, (index, response.get_data(as_text=True))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    # Both outcomes occur: the fuzz exercises storing as well as refusing.
    assert statuses.get(200, 0) > 20 and statuses.get(400, 0) > 20, statuses
    assert _stored(app) == statuses[200]
