"""The bounce/complaint intake: signed by the mail service, one effect per report."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from bot import consents
from bot.models import ConsentRecord, MemberContact
from tests.helpers.channels import Smtp, add_contact, post_email_event
from tests.helpers.delivery import START, Shop, cart_body

HANAKO = "hanako@example.jp"


def _contact(app: Flask, member: str) -> MemberContact:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        row = session.get(MemberContact, member)
        assert row is not None
        session.close()
        return row


def _records(app: Flask, member: str) -> list[tuple[bool, str, dict]]:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.member_id == member, ConsentRecord.channel == "email")
            .order_by(ConsentRecord.id)
        ).all()
        result = [(r.granted, r.source, r.evidence) for r in rows]
        session.close()
        return result


def _bounce(**extra: object) -> dict:
    return {"type": "bounce", "bounce_type": "hard", "event_id": "ev-1", "email": HANAKO, **extra}


def test_a_hard_bounce_marks_the_address_once(shop: Shop, smtp: Smtp):
    add_contact(shop.app, "M-MAIL", START, email=HANAKO, consent=("email",))
    client = shop.api.client
    first = post_email_event(client, _bounce(), now=shop.now)
    assert first.status_code == 200 and first.json == {"type": "bounce", "members": 1}
    marked = _contact(shop.app, "M-MAIL").email_undeliverable_at
    assert marked == START
    shop.at(START + timedelta(minutes=5))
    again = post_email_event(client, _bounce(), now=shop.now)
    assert again.status_code == 200
    assert _contact(shop.app, "M-MAIL").email_undeliverable_at == marked  # one effect
    # The e-mail channel is no longer chosen: the cart reminder has nowhere to go.
    assert shop.event("cart.updated", cart_body("C7"), member="M-MAIL").status_code == 202
    shop.at(START + timedelta(minutes=25))
    shop.tick()
    assert smtp.received == []
    reminder = shop.delivery("reminder", "cart_abandonment")
    assert (
        reminder.reason == "no channel (line: not_on_line, email: undeliverable, sms: no_address)"
    )


def test_a_bounce_found_by_message_id(shop: Shop, smtp: Smtp):
    add_contact(shop.app, "M-MAIL", START, email=HANAKO, consent=("email",))
    assert shop.event("cart.updated", cart_body("C8"), member="M-MAIL").status_code == 202
    shop.at(START + timedelta(minutes=20))
    shop.tick()
    (mail,) = smtp.received
    report = {"type": "bounce", "bounce_type": "hard", "event_id": "ev-9"}
    report["message_id"] = str(mail.message["Message-ID"])
    assert post_email_event(shop.api.client, report, now=shop.now).json["members"] == 1
    assert _contact(shop.app, "M-MAIL").email_undeliverable_at is not None


def test_a_soft_bounce_changes_nothing(shop: Shop):
    add_contact(shop.app, "M-MAIL", START, email=HANAKO, consent=("email",))
    answer = post_email_event(shop.api.client, _bounce(bounce_type="soft"), now=shop.now)
    assert answer.status_code == 200 and "ignored" in answer.json
    assert _contact(shop.app, "M-MAIL").email_undeliverable_at is None


def test_a_complaint_withdraws_consent_once(shop: Shop):
    add_contact(shop.app, "M-MAIL", START, email=HANAKO, consent=("email",))
    complaint = {"type": "complaint", "event_id": "fbl-42", "email": HANAKO.upper()}
    for _ in range(2):
        answer = post_email_event(shop.api.client, complaint, now=shop.now)
        assert answer.status_code == 200, answer.json
    assert _records(shop.app, "M-MAIL") == [
        (True, "checkout_checkbox", {"form_version": "2026-10"}),
        (False, "email_complaint", {"event_id": "fbl-42"}),
    ]
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        assert consents.marketing_consent(session, "M-MAIL", "email") is False
        session.close()


def test_unsigned_forged_stale_and_malformed_reports_are_refused(shop: Shop):
    add_contact(shop.app, "M-MAIL", START, email=HANAKO, consent=("email",))
    client = shop.api.client
    unsigned = client.post("/email/events", json=_bounce())
    assert unsigned.status_code == 401
    forged = post_email_event(client, _bounce(), now=shop.now, secret="guessed")
    assert forged.status_code == 401 and forged.json == {"error": "bad signature"}
    stale = post_email_event(client, _bounce(), now=shop.now, stamp=int(shop.now.timestamp()) - 600)
    assert stale.status_code == 401
    for bad, reason in (
        ([], "body must be a JSON object"),
        ({"type": "open", "event_id": "e"}, "type must be bounce or complaint"),
        (_bounce(bounce_type="medium"), "bounce_type must be hard or soft"),
        (_bounce(event_id=""), "event_id must be a string of 1 to 128 characters"),
        ({"type": "complaint", "event_id": "e"}, "email or message_id is required"),
        (_bounce(email="not an address"), None),
        (_bounce(occurred_at="yesterday"), None),
    ):
        refused = post_email_event(client, bad, now=shop.now)
        assert refused.status_code == 400, bad
        if reason is not None:
            assert refused.json == {"error": reason}
    assert _contact(shop.app, "M-MAIL").email_undeliverable_at is None


def test_the_intake_is_off_without_a_secret(app: Flask, settings):
    from bot.app import create_app

    off = create_app(
        settings.with_changes(email_webhook_secret=None),
        line=app.extensions["bot"].line,
        redis=app.extensions["bot"].redis,
        database=app.extensions["bot"].db,
    )
    assert off.test_client().post("/email/events", json=_bounce()).status_code == 404
