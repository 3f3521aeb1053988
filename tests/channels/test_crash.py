"""A sender killed between the SMTP server's acceptance and the database write: the mail is
never sent a second time (at most once), and the delivery says it is unconfirmed."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from flask import Flask

from bot.delivery import engine as deliveries
from bot.delivery import jobs as delivery_jobs
from bot.delivery.sender import DeliverySender
from bot.models import DeliveryState
from tests.helpers.channels import Smtp, add_contact
from tests.helpers.delivery import START, Shop, cart_body

HANAKO = "hanako@example.jp"


def _claim(app: Flask) -> list[int]:
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        ids = deliveries.claim_due(
            session, services.clock.now(), limit=100, lease=timedelta(seconds=45)
        )
        session.commit()
        services.db.session.remove()
        return ids


def _send_and_die(app: Flask, ids: list[int]) -> int:
    """Send the batch in a child process that dies (os._exit, no clean-up) right after the
    hand-off, before the outcome is written; returns the child's exit status."""
    pid = os.fork()
    if pid == 0:  # the child
        code = 3
        try:
            app.extensions["bot"].db.engine.dispose(close=False)  # the parent's connections

            def killed(*_args: object, **_kwargs: object) -> None:
                os._exit(9)

            DeliverySender._record = killed  # type: ignore[method-assign]
            with app.app_context():
                delivery_jobs.send_deliveries(ids)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_sender_killed_after_smtp_accepted_never_sends_the_mail_again(shop: Shop, smtp: Smtp):
    add_contact(shop.app, "M-MAIL", START, email=HANAKO, consent=("email",))
    assert shop.event("cart.updated", cart_body("C5"), member="M-MAIL").status_code == 202
    shop.at(START + timedelta(minutes=20))
    ids = _claim(shop.app)
    assert len(ids) == 1

    assert _send_and_die(shop.app, ids) == 9
    assert len(smtp.to(HANAKO)) == 1  # the SMTP server took it
    delivery = shop.delivery("reminder")
    assert delivery.state is DeliveryState.SENDING  # the outcome was never written
    assert delivery.handed_off_at is not None and delivery.message_id is not None

    # Past the lease the dispatcher claims it again: it is recorded, not resent.
    shop.at(START + timedelta(minutes=22))
    assert shop.tick() == 1
    assert len(smtp.to(HANAKO)) == 1
    delivery = shop.delivery("reminder")
    assert delivery.state is DeliveryState.FAILED
    assert delivery.reason.startswith("unconfirmed: handed to email at ")
    assert delivery.reason.endswith("not sent again (at most once)")
    # Further ticks leave it alone.
    shop.at(START + timedelta(minutes=30))
    shop.tick()
    assert len(smtp.received) == 1


def test_a_crash_before_the_hand_off_sends_it_once_on_the_next_claim(
    shop: Shop, smtp: Smtp, monkeypatch: pytest.MonkeyPatch
):
    """Dying before anything was handed over leaves no mark: the mail goes out once, later."""
    add_contact(shop.app, "M-MAIL", START, email=HANAKO, consent=("email",))
    assert shop.event("cart.updated", cart_body("C6"), member="M-MAIL").status_code == 202
    shop.at(START + timedelta(minutes=20))

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr("bot.delivery.handoff.mark", crash)
    shop.tick()
    assert smtp.received == []
    monkeypatch.undo()
    shop.at(START + timedelta(minutes=22))
    shop.tick()
    assert len(smtp.to(HANAKO)) == 1
    delivery = shop.delivery("reminder")
    assert delivery.state is DeliveryState.SENT and delivery.handed_off_at is None
