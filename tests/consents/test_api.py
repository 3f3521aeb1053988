"""POST /api/v1/consents, the member contact, and what GET /members/{id} shows of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from bot.models import ConsentRecord, MemberContact
from tests.helpers.line import SHOPPER_ID, send
from tests.helpers.shop_api import ShopApi

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo


def _body(**changes):
    body = {
        "member_id": "M300",
        "channel": "email",
        "purpose": "marketing",
        "granted": True,
        "occurred_at": "2026-11-20T11:55:00+09:00",
        "source": "checkout_checkbox",
        "evidence": {"form_version": "2026-10", "checkbox": "メールマガジンを受け取る"},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def _count(db) -> int:
    return db.session().scalar(select(func.count()).select_from(ConsentRecord))


@pytest.fixture
def frozen():
    with freeze_time(NOW) as clock:
        yield clock


def test_a_grant_is_recorded_and_is_the_current_state(api: ShopApi, frozen):
    response = api.post("/consents", _body())
    assert response.status_code == 201
    assert response.json["record"] == {
        "id": response.json["record"]["id"],
        "channel": "email",
        "purpose": "marketing",
        "granted": True,
        "occurred_at": "2026-11-20T02:55:00Z",
        "recorded_at": "2026-11-20T03:00:00Z",
        "source": "checkout_checkbox",
        "evidence": {"form_version": "2026-10", "checkbox": "メールマガジンを受け取る"},
    }
    assert response.json["current"] == {
        "granted": True,
        "occurred_at": "2026-11-20T02:55:00Z",
        "source": "checkout_checkbox",
    }
    assert response.json["applied"] is True


def test_a_late_record_is_history_but_not_the_state(api: ShopApi, frozen, db):
    api.post("/consents", _body(granted=False, occurred_at="2026-11-20T11:00:00+09:00"))
    late = api.post("/consents", _body(granted=True, occurred_at="2026-11-19T09:00:00+09:00"))
    assert late.status_code == 201
    assert late.json["applied"] is False
    assert late.json["current"]["granted"] is False
    member = api.get("/members/M300").json
    assert member["linked"] is False
    assert member["consents"]["email"]["granted"] is False
    assert [(r["granted"], r["occurred_at"]) for r in member["consent_history"]] == [
        (True, "2026-11-19T00:00:00Z"),
        (False, "2026-11-20T02:00:00Z"),
    ]
    assert _count(db) == 2


def test_the_same_idempotency_key_records_once(api: ShopApi, frozen, db):
    first = api.post("/consents", _body(), key="consent-1")
    again = api.post("/consents", _body(), key="consent-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == first.json
    other = api.post("/consents", _body(granted=False), key="consent-1")
    assert other.status_code == 409
    assert _count(db) == 1


def test_a_key_past_its_replay_window_still_records_once(api: ShopApi, db):
    with freeze_time(NOW):
        first = api.post("/consents", _body(), key="consent-2")
    with freeze_time(NOW + timedelta(days=2)):
        from bot.shop_api import idempotency

        idempotency.purge_expired(db.session(), NOW + timedelta(days=2))
        db.session().commit()
        again = api.post("/consents", _body(), key="consent-2")
    assert again.status_code == 201
    assert again.json["record"]["id"] == first.json["record"]["id"]
    assert _count(db) == 1


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"channel": "fax"}, "channel", '"email", "sms" or "line"'),
        ({"channel": "LINE"}, "channel", "must be"),
        ({"purpose": "analytics"}, "purpose", '"marketing"'),
        ({"granted": "yes"}, "granted", "bool"),
        ({"granted": ...}, "granted", "is required"),
        ({"member_id": "M 1"}, "member_id", "printable ASCII"),
        ({"occurred_at": "2026-11-20T12:00:00"}, "occurred_at", "time zone"),
        ({"occurred_at": "2026/11/20 12:00"}, "occurred_at", "time zone"),
        ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at", "between the years"),
        ({"occurred_at": 1763600000}, "occurred_at", "date-time"),
        ({"occurred_at": "2026-11-20T12:10:00+09:00"}, "occurred_at", "future"),
        ({"source": "Checkout Checkbox"}, "source", "lower-case"),
        ({"source": "x" * 65}, "source", "lower-case"),
        ({"evidence": "v1"}, "evidence", "object"),
        ({"evidence": {"form": {"nested": 1}}}, "evidence.form", ""),
        ({"evidence": {"bad key": 1}}, "evidence", ""),
        ({"evidence": {f"k{n}": n for n in range(17)}}, "evidence", "16"),
        ({"evidence": {"page": "あ" * 201}}, "evidence.page", "200"),
        ({"shopper": "x"}, "shopper", "not a field"),
    ],
)
def test_bad_consents_are_refused_with_a_reason(api: ShopApi, frozen, db, changes, field, words):
    response = api.post("/consents", _body(**changes))
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["field"].startswith(field), error
    assert words in error["message"], error
    assert _count(db) == 0


def test_a_five_minute_clock_skew_is_accepted(api: ShopApi, frozen):
    assert api.post("/consents", _body(occurred_at="2026-11-20T12:04:00+09:00")).status_code == 201


def test_unsigned_replayed_and_oversized_requests_are_refused(api: ShopApi, client, frozen, db):
    raw = json.dumps(_body()).encode()
    unsigned = client.post("/api/v1/consents", data=raw, content_type="application/json")
    assert unsigned.status_code == 401
    headers = api.signer.headers("POST", "/api/v1/consents", raw)
    headers["Content-Type"] = "application/json"
    assert client.post("/api/v1/consents", data=raw, headers=headers).status_code == 201
    replayed = client.post("/api/v1/consents", data=raw, headers=headers)
    assert replayed.status_code == 401
    huge = api.post("/consents", raw=b'{"evidence": "' + b"a" * (1024 * 1024) + b'"}')
    assert huge.status_code == 413
    assert api.post("/consents", raw=b"{not json").status_code == 400
    assert api.post("/consents", [_body()]).status_code == 400
    assert _count(db) == 1


# -- contacts ----------------------------------------------------------------------------------


def test_a_contact_is_stored_normalised_and_replaced_whole(api: ShopApi, frozen, db):
    first = api.call(
        "PUT", "/members/M300/contact", {"email": "Hanako@Example.JP", "phone": "090-1234-5678"}
    )
    assert first.status_code == 201
    assert first.json == {
        "member_id": "M300",
        "email": "Hanako@example.jp",
        "phone": "+819012345678",
        "email_undeliverable_at": None,
        "phone_undeliverable_at": None,
    }
    again = api.call("PUT", "/members/M300/contact", {"phone": "+819012345678"})
    assert again.status_code == 200
    assert (again.json["email"], again.json["phone"]) == (None, "+819012345678")
    assert api.get("/members/M300/contact").json["phone"] == "+819012345678"
    assert api.get("/members/M300").json["contact"]["phone"] == "+819012345678"
    assert api.delete("/members/M300/contact").status_code == 204
    assert api.get("/members/M300/contact").status_code == 404
    assert db.session().get(MemberContact, "M300") is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "hanako"}, "email"),
        ({"email": "hanako@example"}, "email"),
        ({"email": "a@" + "b" * 250 + ".jp"}, "email"),
        ({"email": ["hanako@example.jp"]}, "email"),
        ({"phone": "0312345678"}, "phone"),
        ({"phone": "+0123"}, "phone"),
        ({"phone": "09012345678; DROP"}, "phone"),
        ({"fax": "0312345678"}, "fax"),
    ],
)
def test_bad_contacts_are_refused_with_the_field(api: ShopApi, frozen, db, body, field):
    response = api.call("PUT", "/members/M300/contact", body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    assert db.session().get(MemberContact, "M300") is None


def test_a_member_never_seen_is_404(api: ShopApi, frozen):
    assert api.get("/members/M999").status_code == 404
    assert api.get("/members/M999/contact").status_code == 404


def test_a_member_known_only_by_consent_has_a_state(api: ShopApi, frozen):
    api.post("/consents", _body(channel="sms", member_id="M301"))
    member = api.get("/members/M301").json
    assert member["linked"] is False and member["contact"] is None
    assert member["consents"]["sms"]["granted"] is True
    assert member["consents"]["email"] is None
    assert member["consents"]["line"] == {
        "granted": False,
        "occurred_at": None,
        "source": "line_follow_default",
    }


# -- LINE 配信停止/配信再開 ---------------------------------------------------------------------


def test_line_optout_and_optin_write_records_for_a_linked_shopper(api, client, run_jobs, db):
    with freeze_time(NOW):
        api.post("/links", {"member_id": "M123", "line_user_id": SHOPPER_ID})
        send(client, run_jobs, "postback__optout")
        send(client, run_jobs, "postback__optout")  # another tap: recorded again
    member = api.get("/members/M123").json
    assert member["marketing_opt_in"] is False
    assert member["consents"]["line"]["granted"] is False
    assert [(r["source"], r["granted"]) for r in member["consent_history"]] == [
        ("line_postback", False),
        ("line_postback", False),
    ]
    # The shop records a grant at the shop's site after the taps: the flag follows.
    api.post("/consents", _body(member_id="M123", channel="line", source="mypage"))
    member = api.get("/members/M123").json
    assert member["marketing_opt_in"] is True and member["consents"]["line"]["granted"] is True


def test_a_redelivered_line_event_records_once(api, client, run_jobs, db):
    from tests.helpers.line import load_webhook, signed_post

    with freeze_time(NOW):
        api.post("/links", {"member_id": "M123", "line_user_id": SHOPPER_ID})
        event = load_webhook("postback__optout", webhookEventId="01JREDELIVERED000000000000")
        signed_post(client, [event])
        run_jobs()
        signed_post(client, [{**event, "deliveryContext": {"isRedelivery": True}}])
        run_jobs()
    assert _count(db) == 1


def test_an_unlinked_shoppers_optout_only_sets_the_flag(client, run_jobs, db):
    with freeze_time(NOW):
        send(client, run_jobs, "postback__optout")
    assert _count(db) == 0
