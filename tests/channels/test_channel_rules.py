"""Per-channel rules over the batch sender: quiet hours, the daily cap, refusals and retries
from the SMTP server and the SMS provider, and the merge of a contact-only member on link."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from freezegun import freeze_time
from redis import Redis
from sqlalchemy import select

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import QuietHours, Settings
from bot.line.gateway import InMemoryLineGateway
from bot.linking.service import link_member
from bot.models import Delivery, DeliveryState, Flow, LinkSource, Shopper
from bot.shoppers.service import record_unfollow
from bot.sms.memory import InMemorySmsProvider
from tests.helpers.channels import Smtp, add_contact
from tests.helpers.console import FAST_PASSWORD_HASH
from tests.helpers.delivery import MAMEZARA, Shop, add_shopper, cart_body, pushes
from tests.helpers.line import SHOPPER_ID

# 2025-07-01 22:00 in Tokyo: quiet hours for LINE and SMS.
NIGHT = datetime(2025, 7, 1, 13, 0, tzinfo=UTC)
MORNING = datetime(2025, 7, 2, 0, 0, tzinfo=UTC)  # 09:00
HANAKO = "hanako@example.jp"
PHONE = "+819012345678"


@pytest.fixture
def sms() -> InMemorySmsProvider:
    return InMemorySmsProvider()


@pytest.fixture
def app(
    settings: Settings,
    db: Database,
    redis: Redis,
    line: InMemoryLineGateway,
    sms: InMemorySmsProvider,
) -> Flask:
    # E-mail may go out until 23:00; LINE and SMS keep to 21:00-09:00.
    tuned = settings.with_changes(
        password_hash_method=FAST_PASSWORD_HASH,
        email_quiet_hours=QuietHours(time(23, 0), time(7, 0)),
    )
    return create_app(tuned, line=line, redis=redis, database=db, sms=sms)


@pytest.fixture
def night(app: Flask, client: Any, run_jobs: Any) -> Any:
    with freeze_time(NIGHT) as frozen:
        yield Shop(app, client, run_jobs, frozen)


def _by_member(shop: Shop, step: str = "reminder") -> dict[str, Delivery]:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        rows = session.execute(
            select(Delivery, Shopper).join(Shopper).where(Delivery.step_id == step)
        ).all()
        found = {(s.member_id or s.contact_member_id or ""): d for d, s in rows}
        session.close()
        return found


def test_quiet_hours_are_per_channel(night: Shop, smtp: Smtp, sms: InMemorySmsProvider):
    add_contact(night.app, "M-MAIL", NIGHT, email=HANAKO, consent=("email",))
    add_contact(night.app, "M-SMS", NIGHT, phone=PHONE, consent=("sms",))
    for member in ("M-MAIL", "M-SMS"):
        assert (
            night.event("cart.updated", cart_body(f"C-{member}"), member=member).status_code == 202
        )
    night.at(NIGHT + timedelta(minutes=20))  # 22:20
    night.tick()
    assert [m.recipients for m in smtp.received] == [(HANAKO,)]  # e-mail's quiet hours: 23-7
    assert sms.sent == []
    waiting = _by_member(night)["M-SMS"]
    assert waiting.state is DeliveryState.PENDING
    assert waiting.reason == "postponed: quiet hours (sms)" and waiting.due_at == MORNING
    night.at(MORNING + timedelta(minutes=1))
    night.tick()
    assert [s.to for s in sms.sent] == [PHONE]
    assert len(smtp.received) == 1


def test_the_daily_cap_counts_each_channel_apart(night: Shop, smtp: Smtp):
    """E-mail has its own count of today's marketing messages against DAILY_MARKETING_CAP."""
    add_contact(night.app, "M-MAIL", NIGHT, email=HANAKO, consent=("email",))
    night.at(MORNING + timedelta(hours=1))  # 10:00
    for cart in ("C1", "C2", "C3"):
        night.event("cart.updated", cart_body(cart, None), member="M-MAIL")
    night.at(MORNING + timedelta(hours=1, minutes=20))
    night.tick()
    rows = sorted((d for d in night.deliveries() if d.step_id == "reminder"), key=lambda d: d.id)
    assert [d.state for d in rows] == [
        DeliveryState.SENT,
        DeliveryState.SENT,
        DeliveryState.SKIPPED,
    ]
    assert rows[2].reason == "postponed: daily cap; would be stale by then"
    assert {d.channel for d in rows} == {"email"}
    assert len(smtp.received) == 2


def test_a_refused_mail_fails_and_a_busy_server_is_retried(night: Shop, smtp: Smtp):
    add_contact(night.app, "M-MAIL", NIGHT, email=HANAKO, consent=("email",))
    night.at(MORNING)
    night.event("cart.updated", cart_body("C1"), member="M-MAIL")
    night.at(MORNING + timedelta(minutes=20))
    smtp.sink.refuse = "451 4.3.0 mailbox busy, try later"
    night.tick()
    (delivery,) = [d for d in night.deliveries() if d.step_id == "reminder"]
    assert delivery.state is DeliveryState.PENDING
    assert delivery.reason == "retrying: email MailUnavailable"
    assert delivery.handed_off_at is None  # refused before it was taken: safe to retry
    smtp.sink.refuse = None
    night.at(delivery.due_at + timedelta(seconds=1))
    night.tick()
    assert len(smtp.received) == 1
    assert night.delivery("reminder").state is DeliveryState.SENT

    night.event("cart.updated", cart_body("C2", [MAMEZARA]), member="M-MAIL")
    night.at(night.now + timedelta(minutes=20))
    smtp.sink.refuse = "550 5.1.1 no such user"
    night.tick()
    failed = [
        d for d in night.deliveries() if d.step_id == "reminder" and d.state.value == "failed"
    ]
    assert len(failed) == 1
    assert failed[0].reason.startswith("email rejected: SMTP DATA 550")


def test_sms_refusals_fail_and_outages_retry(night: Shop, sms: InMemorySmsProvider):
    add_contact(night.app, "M-SMS", NIGHT, phone=PHONE, consent=("sms",))
    night.at(MORNING)
    night.event("cart.updated", cart_body("C1"), member="M-SMS")
    night.at(MORNING + timedelta(minutes=20))
    sms.unavailable = True
    night.tick()
    delivery = night.delivery("reminder")
    assert delivery.state is DeliveryState.PENDING
    assert delivery.reason == "retrying: sms SmsUnavailable" and delivery.handed_off_at is None
    sms.unavailable = False
    sms.rejected.add(PHONE)
    night.at(delivery.due_at + timedelta(seconds=1))
    night.tick()
    delivery = night.delivery("reminder")
    assert delivery.state is DeliveryState.FAILED
    assert delivery.reason.startswith("sms rejected (21211): ")
    sms.rejected.clear()
    night.at(night.now + timedelta(hours=1))
    night.tick()
    assert sms.sent == []


def test_sms_carries_the_reference_and_the_opt_out(night: Shop, sms: InMemorySmsProvider):
    add_contact(night.app, "M-SMS", NIGHT, phone=PHONE, consent=("sms",))
    night.at(MORNING)
    night.event("cart.updated", cart_body("C1"), member="M-SMS")
    night.at(MORNING + timedelta(minutes=20))
    night.tick()
    (text,) = sms.sent
    delivery = night.delivery("reminder")
    assert text.reference == f"delivery:{delivery.id}"
    assert "配信停止は「停止」と返信" in text.body
    assert delivery.message_id == text.provider_message_id


def test_a_member_known_by_mail_who_links_line_keeps_one_flow(
    night: Shop, smtp: Smtp, line: InMemoryLineGateway
):
    add_contact(night.app, "M-MAIL", NIGHT, email=HANAKO, consent=("email",))
    night.at(MORNING)
    night.event("cart.updated", cart_body("C1"), member="M-MAIL")
    night.at(MORNING + timedelta(minutes=20))
    night.tick()
    assert len(smtp.received) == 1
    # The member links LINE: the flow moves to the LINE shopper, nothing starts twice.
    add_shopper(night.app, member_id=None, now=night.now)
    with night.app.app_context():
        session = night.app.extensions["bot"].db.session()
        link_member(session, "M-MAIL", SHOPPER_ID, night.now, LinkSource.API)
        session.commit()
        flows = session.scalars(select(Flow)).all()
        owners = {session.get(Shopper, f.shopper_id).line_user_id for f in flows}
        session.close()
    assert len(flows) == 1 and owners == {SHOPPER_ID}
    # The second step goes by LINE, the channel the member now prefers.
    night.at(MORNING + timedelta(days=1, minutes=5))
    night.tick()
    assert len(pushes(line)) == 1
    incentive = night.delivery("incentive")
    assert incentive.state is DeliveryState.SENT and incentive.channel == "line"
    assert len(smtp.received) == 1
    reminder = night.delivery("reminder")
    assert reminder.channel == "email" and reminder.state is DeliveryState.SENT


def test_erasing_a_member_known_only_by_mail_removes_their_flows(night: Shop, smtp: Smtp):
    add_contact(night.app, "M-MAIL", NIGHT, email=HANAKO, consent=("email",))
    night.at(MORNING)
    night.event("cart.updated", cart_body("C1"), member="M-MAIL")
    assert len(night.deliveries()) == 3
    assert night.api.delete("/members/M-MAIL").status_code == 204
    assert night.deliveries() == []
    with night.app.app_context():
        session = night.app.extensions["bot"].db.session()
        assert session.scalars(select(Shopper)).all() == []
        session.close()


def test_a_line_shopper_who_blocks_is_reached_by_mail_if_they_agreed(
    night: Shop, smtp: Smtp, line: InMemoryLineGateway
):
    add_shopper(night.app, member_id="M-BOTH", now=NIGHT)
    add_contact(night.app, "M-BOTH", NIGHT, email=HANAKO, consent=("email",))
    night.at(MORNING)
    night.event("cart.updated", cart_body("C1"), member="M-BOTH")
    night.at(MORNING + timedelta(minutes=20))
    night.tick()
    assert len(pushes(line)) == 1 and smtp.received == []
    with night.app.app_context():
        session = night.app.extensions["bot"].db.session()
        record_unfollow(session, SHOPPER_ID, night.now)  # the unfollow signal runs too
        session.commit()
        session.close()
    night.at(MORNING + timedelta(days=1, minutes=5))
    night.tick()
    incentive = night.delivery("incentive")
    assert incentive.state is DeliveryState.SENT, incentive.reason
    assert incentive.channel == "email"
    assert incentive.reason == "channel:email (line: not_following)"
    assert len(pushes(line)) == 1 and len(smtp.received) == 1
