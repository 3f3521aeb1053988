"""Inbound SMS (停止/再開) and delivery receipts: signed by the emulator over real HTTP, and
forged, tampered or replayed through the test client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.consents import contact_of, history, marketing_consent, record_consent, set_contact
from bot.models import (
    ConsentRecord,
    Delivery,
    DeliveryState,
    Flow,
    FlowState,
    SmsMessage,
)
from bot.sms.inbound import keyword
from bot.sms.receipts import record_sent
from bot.sms.twilio import twilio_factory
from sms_emulator import signature
from sms_emulator.core import segments
from tests.helpers.delivery import add_shopper
from tests.helpers.sms import ACCOUNT_SID, AUTH_TOKEN

PHONE = "+819012345678"
MEMBER = "M200"


def _member_with_phone(app, member=MEMBER, phone=PHONE, consent=True):
    now = datetime.now(UTC)
    with app.app_context():
        session = app.extensions["bot"].db.session()
        set_contact(session, member, phone=phone, now=now)
        if consent:
            record_consent(
                session,
                member_id=member,
                channel="sms",
                purpose="marketing",
                granted=True,
                occurred_at=now - timedelta(days=1),
                source="checkout_checkbox",
                now=now,
            )
        session.commit()


def _consent(app, member=MEMBER):
    with app.app_context():
        return marketing_consent(app.extensions["bot"].db.session(), member, "sms")


def _records(app):
    with app.app_context():
        session = app.extensions["bot"].db.session()
        return session.scalar(select(func.count()).select_from(ConsentRecord))


# -- keywords ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["停止", " 停止。", "ていし", "ﾃｲｼ", "テイシ", "STOP", "stop", "ＳＴＯＰ", "配信停止"]
)
def test_stop_words_in_every_width(text):
    assert keyword(text) is False


@pytest.mark.parametrize("text", ["再開", "さいかい", "ｻｲｶｲ", "START", "ｓｔａｒｔ"])
def test_resume_words(text):
    assert keyword(text) is True


@pytest.mark.parametrize("text", ["停止しないで", "ありがとう", "", "STOPS"])
def test_other_text_is_no_keyword(text):
    assert keyword(text) is None


# -- inbound over real HTTP from the emulator --------------------------------------------------


def test_a_stop_reply_withdraws_sms_consent_and_is_confirmed_once(sms_bot, sms_emulator):
    _member_with_phone(sms_bot)
    assert _consent(sms_bot) is True
    result = sms_emulator.receive(PHONE, "停止")
    assert result.status == 200
    assert _consent(sms_bot) is False
    [reply] = sms_emulator.sent(PHONE)
    assert "停止しました" in reply.body and "サンプルストア" in reply.body
    assert segments(reply.body) == 1  # one 70-character segment
    with sms_bot.app_context():
        [_, withdrawal] = history(sms_bot.extensions["bot"].db.session(), MEMBER)
    assert (withdrawal.granted, withdrawal.source, withdrawal.channel) == (
        False,
        "sms_reply",
        "sms",
    )

    # The provider retries the same message: no second record and no second reply.
    inbound_sid = sms_emulator.messages[-2].sid
    again = sms_emulator.receive(PHONE, "停止", sid=inbound_sid)
    assert again.status == 200
    assert "<Message>" not in again.body
    assert len(sms_emulator.sent(PHONE)) == 1
    assert _records(sms_bot) == 2


def test_a_resume_reply_grants_again(sms_bot, sms_emulator):
    _member_with_phone(sms_bot)
    sms_emulator.receive(PHONE, "ＳＴＯＰ")
    assert _consent(sms_bot) is False
    sms_emulator.receive(PHONE, "再開")
    assert _consent(sms_bot) is True
    assert ["停止しました" in m.body for m in sms_emulator.sent(PHONE)] == [True, False]


def test_every_member_with_the_number_is_withdrawn(sms_bot, sms_emulator):
    _member_with_phone(sms_bot, "M201")
    _member_with_phone(sms_bot, "M202")
    sms_emulator.receive(PHONE, "停止")
    assert (_consent(sms_bot, "M201"), _consent(sms_bot, "M202")) == (False, False)


def test_an_unknown_number_is_acknowledged_without_effect(sms_bot, sms_emulator):
    _member_with_phone(sms_bot)
    result = sms_emulator.receive("+818099998888", "停止")
    assert result.status == 200 and "<Message>" not in result.body
    assert _consent(sms_bot) is True
    assert sms_emulator.sent() == []


def test_other_text_changes_nothing(sms_bot, sms_emulator):
    _member_with_phone(sms_bot)
    assert sms_emulator.receive(PHONE, "注文はいつ届きますか").status == 200
    assert _consent(sms_bot) is True and _records(sms_bot) == 1


# -- receipts over real HTTP -------------------------------------------------------------------


def _delivery(app, state=DeliveryState.SENT) -> int:
    """A sent cart step of a shopper (the delivery engine's rows, written directly)."""
    now = datetime.now(UTC)
    shopper_id = add_shopper(app, now=now)
    with app.app_context():
        session = app.extensions["bot"].db.session()
        flow = Flow(
            shopper_id=shopper_id,
            scenario_id="cart",
            subject="cart:C1",
            state=FlowState.ACTIVE,
            anchor_at=now,
            started_at=now,
        )
        session.add(flow)
        session.flush()
        delivery = Delivery(
            flow_id=flow.id,
            shopper_id=shopper_id,
            scenario_id="cart",
            step_id="s1",
            step_index=0,
            template="cart_reminder",
            marketing=True,
            state=state,
            due_at=now,
            sent_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
        session.commit()
        return delivery.id


def _send(app, reference: str):
    with app.app_context():
        services = app.extensions["bot"]
        sent = services.sms.send(PHONE, "カートのお知らせ", reference=reference)
        session = services.db.session()
        record_sent(
            session,
            sent.provider_message_id,
            to=PHONE,
            reference=reference,
            status=sent.status,
            now=datetime.now(UTC),
        )
        session.commit()
        return sent.provider_message_id


def _message(app, sid) -> SmsMessage:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        return session.scalars(
            select(SmsMessage).where(SmsMessage.provider_message_id == sid)
        ).one()


def _delivery_state(app, delivery_id):
    with app.app_context():
        row = app.extensions["bot"].db.session().get(Delivery, delivery_id)
        return row.state, row.reason


def test_a_delivered_receipt_keeps_the_delivery_sent(sms_bot, sms_emulator):
    delivery_id = _delivery(sms_bot)
    sid = _send(sms_bot, f"delivery:{delivery_id}")
    results = sms_emulator.deliver(sid)
    assert [r.status for r in results] == [204, 204, 204]
    assert _message(sms_bot, sid).status == "delivered"
    assert _delivery_state(sms_bot, delivery_id) == (DeliveryState.SENT, None)


def test_an_undelivered_receipt_fails_the_delivery_with_the_code(sms_bot, sms_emulator):
    delivery_id = _delivery(sms_bot)
    sms_emulator.undeliverable.add(PHONE)
    sid = _send(sms_bot, f"delivery:{delivery_id}")
    sms_emulator.deliver(sid)
    message = _message(sms_bot, sid)
    assert (message.status, message.error_code) == ("undelivered", "30003")
    assert _delivery_state(sms_bot, delivery_id) == (
        DeliveryState.FAILED,
        "sms_undelivered:30003",
    )


def test_an_unknown_handset_also_marks_the_number_undeliverable(sms_bot, sms_emulator):
    _member_with_phone(sms_bot)
    sms_emulator.unknown_handsets.add(PHONE)
    sid = _send(sms_bot, "campaign:1")
    sms_emulator.deliver(sid)
    assert _message(sms_bot, sid).status == "failed"
    with sms_bot.app_context():
        assert contact_of(sms_bot.extensions["bot"].db.session(), MEMBER).phone_ok is False


def test_late_callbacks_never_move_the_status_back(sms_bot, sms_emulator):
    delivery_id = _delivery(sms_bot)
    sid = _send(sms_bot, f"delivery:{delivery_id}")
    sms_emulator.deliver(sid)
    for late in ("sent", "queued", "undelivered"):
        assert (
            sms_emulator.set_status(sid, late, 30003 if late == "undelivered" else None).status
            == 204
        )
    assert _message(sms_bot, sid).status == "delivered"
    assert _delivery_state(sms_bot, delivery_id)[0] is DeliveryState.SENT


def test_a_receipt_before_the_senders_own_write_still_finds_its_delivery(sms_bot, sms_emulator):
    """The sender crashed after the provider took the message: the reference comes back in
    the signed callback URL."""
    delivery_id = _delivery(sms_bot)
    sms_emulator.undeliverable.add(PHONE)
    with sms_bot.app_context():
        sent = sms_bot.extensions["bot"].sms.send(
            PHONE, "本文", reference=f"delivery:{delivery_id}"
        )
    sms_emulator.deliver(sent.provider_message_id)
    message = _message(sms_bot, sent.provider_message_id)
    assert (message.reference, message.to, message.status) == (
        f"delivery:{delivery_id}",
        PHONE,
        "undelivered",
    )
    assert _delivery_state(sms_bot, delivery_id)[0] is DeliveryState.FAILED


def test_the_adapter_is_built_from_the_settings(sms_bot):
    factory = twilio_factory(sms_bot.extensions["bot"].settings)
    adapter = factory()
    assert adapter.default_status_callback.endswith("/sms/status")
    assert adapter.timeout == (3.0, 2.0)


# -- forged, tampered and malformed requests (test client) -------------------------------------

BASE = "https://bot.example.com"


def _signed(client, path, params, *, token=AUTH_TOKEN, url=None, tamper=None):
    signed_url = url or f"{BASE}{path}"
    headers = {"X-Twilio-Signature": signature(token, signed_url, params)}
    sent = dict(params)
    if tamper:
        sent.update(tamper)
    return client.post(
        path,
        data=urlencode(sent),
        headers=headers,
        content_type="application/x-www-form-urlencoded",
    )


def _inbound(sid="SM" + "a" * 32, body="停止", sender=PHONE, account=ACCOUNT_SID):
    return {
        "AccountSid": account,
        "MessageSid": sid,
        "From": sender,
        "To": "+815011112222",
        "Body": body,
        "NumMedia": "0",
    }


@pytest.fixture
def sms_client(sms_settings, db, redis, line):
    from bot.app import create_app

    app = create_app(sms_settings, line=line, redis=redis, database=db)
    _member_with_phone(app)
    return app, app.test_client()


def test_unsigned_inbound_is_403_and_changes_nothing(sms_client):
    app, client = sms_client
    response = client.post("/sms/inbound", data=_inbound())
    assert response.status_code == 403
    assert _consent(app) is True


@pytest.mark.parametrize(
    "forge",
    [
        {"token": "wrong-token"},
        {"tamper": {"From": "+818011112222"}},
        {"tamper": {"Body": "再開"}},
        {"url": "https://evil.example.com/sms/inbound"},
    ],
)
def test_forged_or_tampered_inbound_is_403(sms_client, forge):
    app, client = sms_client
    assert _signed(client, "/sms/inbound", _inbound(), **forge).status_code == 403
    assert _consent(app) is True and _records(app) == 1


def test_another_accounts_signed_inbound_is_403(sms_client):
    app, client = sms_client
    params = _inbound(account="AC" + "9" * 32)
    assert _signed(client, "/sms/inbound", params).status_code == 403
    assert _consent(app) is True


@pytest.mark.parametrize(
    "params", [_inbound(sid="not-a-sid"), _inbound(sender="09012345678"), _inbound(sid="")]
)
def test_malformed_inbound_is_400(sms_client, params):
    app, client = sms_client
    assert _signed(client, "/sms/inbound", params).status_code == 400
    assert _consent(app) is True


def test_a_signed_inbound_through_the_test_client_works(sms_client):
    app, client = sms_client
    response = _signed(client, "/sms/inbound", _inbound())
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert "停止しました" in response.get_data(as_text=True)
    assert _consent(app) is False


def _receipt(status="delivered", sid="SM" + "b" * 32, code=None):
    params = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": status, "To": PHONE}
    if code:
        params["ErrorCode"] = code
    return params


def test_receipts_must_be_signed_and_the_reference_is_part_of_the_signature(sms_client):
    app, client = sms_client
    delivery_id = _delivery(app)
    path = f"/sms/status?ref=delivery%3A{delivery_id}"
    params = _receipt("undelivered", code="30003")
    assert client.post(path, data=params).status_code == 403
    # Signed for another delivery, sent with this one's reference: refused.
    other = f"{BASE}/sms/status?ref=delivery%3A{delivery_id + 1}"
    assert _signed(client, path, params, url=other).status_code == 403
    assert _delivery_state(app, delivery_id)[0] is DeliveryState.SENT
    assert _signed(client, path, params).status_code == 204
    assert _delivery_state(app, delivery_id)[0] is DeliveryState.FAILED


@pytest.mark.parametrize(
    ("params", "path"),
    [
        (_receipt(sid="SMshort"), "/sms/status"),
        (_receipt("undelivered", code="30003; DROP"), "/sms/status"),
        (_receipt(), "/sms/status?ref=" + "x" * 200),
    ],
)
def test_malformed_receipts_are_400(sms_client, params, path):
    _app, client = sms_client
    assert _signed(client, path, params).status_code == 400


def test_an_unknown_status_is_acknowledged_and_ignored(sms_client):
    app, client = sms_client
    assert _signed(client, "/sms/status", _receipt("read")).status_code == 204
    with app.app_context():
        session = app.extensions["bot"].db.session()
        assert session.scalar(select(func.count()).select_from(SmsMessage)) == 0


def test_with_sms_off_the_webhooks_do_not_exist(sms_settings, db, redis, line):
    from bot.app import create_app

    off = sms_settings.with_changes(sms_enabled=False, sms_account_sid="", sms_auth_token="")
    app = create_app(off, line=line, redis=redis, database=db)
    client = app.test_client()
    params = _inbound(account="")
    assert _signed(client, "/sms/inbound", params, token="").status_code == 404
    assert _signed(client, "/sms/status", _receipt(), token="").status_code == 404
    with app.app_context(), pytest.raises(RuntimeError):
        app.extensions["bot"].sms  # noqa: B018  (no provider is built)
