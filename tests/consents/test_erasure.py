"""Erasing a member: the contact goes; e-mail and SMS consent records stay, pseudonymised, for
the retention period 特定電子メール法 asks; LINE's go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time
from sqlalchemy import select

from bot.consents.erasure import erased_records, purge_erased
from bot.consents.jobs import purge_erased_consents
from bot.linking.members import ERASED_PREFIX, tombstone
from bot.models import ConsentRecord, ErasureCount, MemberContact, SmsMessage
from bot.sms.receipts import record_sent
from tests.helpers.line import SHOPPER_ID, send
from tests.helpers.shop_api import ShopApi

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
KEY = b"test-secret-key"


def _consent(api: ShopApi, channel: str, granted: bool = True, member: str = "M123"):
    body = {
        "member_id": member,
        "channel": channel,
        "purpose": "marketing",
        "granted": granted,
        "occurred_at": "2026-11-20T10:00:00+09:00",
        "source": "checkout_checkbox",
        "evidence": {"form_version": "2026-10"},
    }
    assert api.post("/consents", body, key=f"{member}-{channel}-{granted}").status_code == 201


def _member_everywhere(api, client, run_jobs, db):
    api.post("/links", {"member_id": "M123", "line_user_id": SHOPPER_ID})
    send(client, run_jobs, "postback__optout")  # a line record
    api.call("PUT", "/members/M123/contact", {"email": "hanako@example.jp", "phone": "09012345678"})
    _consent(api, "email")
    _consent(api, "sms")
    _consent(api, "sms", granted=False)
    session = db.session()
    record_sent(
        session, "SM" + "c" * 32, to="+819012345678", reference="delivery:1", status="sent", now=NOW
    )
    session.commit()


def test_erasure_keeps_only_pseudonymised_email_and_sms_consent(api, client, run_jobs, db):
    with freeze_time(NOW):
        _member_everywhere(api, client, run_jobs, db)
        assert api.delete("/members/M123").status_code == 204
    session = db.session()
    assert session.get(MemberContact, "M123") is None
    rows = session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
    assert [(r.channel, r.granted) for r in rows] == [
        ("email", True),
        ("sms", True),
        ("sms", False),
    ]
    for row in rows:
        assert row.member_id == tombstone("M123", KEY) and row.member_id.startswith(ERASED_PREFIX)
        assert row.request_key is None  # it quoted the member id
        assert row.erased_at == NOW
        assert row.source == "checkout_checkbox" and row.evidence == {"form_version": "2026-10"}
    assert "M123" not in repr([(r.member_id, r.evidence, r.request_key) for r in rows])
    # The operator can still answer a dispute about this member from the member id.
    assert [r.id for r in erased_records(session, "M123", KEY)] == [r.id for r in rows]
    assert session.scalars(select(SmsMessage.to)).all() == [None]
    assert api.get("/members/M123").status_code == 404
    counts = {row.name: row.count for row in session.scalars(select(ErasureCount))}
    assert counts["member_contacts"] == 1
    assert counts["consent_records"] == 1  # the LINE record
    assert counts["consent_records_pseudonymised"] == 3


def test_the_kept_records_go_when_the_retention_period_ends(api, client, run_jobs, db, app):
    with freeze_time(NOW):
        _member_everywhere(api, client, run_jobs, db)
        _consent(api, "email", member="M124")  # another member's: never purged
        api.delete("/members/M123")
    session = db.session()
    assert purge_erased(session, NOW + timedelta(days=364), 365) == 0
    session.commit()
    with freeze_time(NOW + timedelta(days=365)), app.app_context():
        assert purge_erased_consents() == 3
    remaining = db.session().scalars(select(ConsentRecord.member_id)).all()
    assert remaining == ["M124"]


def test_a_member_known_only_by_consent_can_be_erased(api, db):
    with freeze_time(NOW):
        _consent(api, "sms", member="M500")
        assert api.delete("/members/M500").status_code == 204
        # Nothing is stored under the member id any more: the kept records are pseudonymous.
        assert api.delete("/members/M500").status_code == 404
    row = db.session().scalars(select(ConsentRecord)).one()
    assert row.member_id == tombstone("M500", KEY)


def test_the_member_id_inside_a_line_event_key_is_not_kept(api, client, run_jobs, db):
    with freeze_time(NOW):
        api.post("/links", {"member_id": "M123", "line_user_id": SHOPPER_ID})
        send(client, run_jobs, "postback__optout")
        api.delete("/members/M123")
    assert db.session().scalars(select(ConsentRecord)).all() == []
