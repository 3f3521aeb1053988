"""One-click unsubscribe (RFC 8058): the link of a real mail; POST withdraws, GET only asks."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select

from bot import consents
from bot.email.tokens import make_token
from bot.models import ConsentRecord
from tests.helpers.channels import Smtp, add_contact, unsubscribe_path
from tests.helpers.delivery import START, Shop, cart_body

HANAKO = "hanako@example.jp"


def _history(app: Flask, member: str) -> list[tuple[bool, str]]:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.member_id == member, ConsentRecord.channel == "email")
            .order_by(ConsentRecord.id)
        ).all()
        result = [(r.granted, r.source) for r in rows]
        session.close()
        return result


def _consent(app: Flask, member: str) -> bool:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        state = consents.marketing_consent(session, member, "email")
        session.close()
        return state


def _mail_to_hanako(shop: Shop, smtp: Smtp) -> str:
    add_contact(shop.app, "M-MAIL", START, email=HANAKO, consent=("email",))
    assert shop.event("cart.updated", cart_body("C9"), member="M-MAIL").status_code == 202
    shop.at(START + timedelta(minutes=20))
    shop.tick()
    (mail,) = smtp.to(HANAKO)
    return unsubscribe_path(mail)


def test_a_get_shows_the_button_and_changes_nothing(shop: Shop, smtp: Smtp):
    path = _mail_to_hanako(shop, smtp)
    for _ in range(3):  # link scanners and previews fetch it, more than once
        page = shop.api.client.get(path)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert '<form method="post"' in html and "配信を停止する" in html
        assert page.headers["Cache-Control"] == "no-store"
    assert _consent(shop.app, "M-MAIL") is True
    assert _history(shop.app, "M-MAIL") == [(True, "checkout_checkbox")]


def test_one_click_post_withdraws_consent_once(shop: Shop, smtp: Smtp):
    path = _mail_to_hanako(shop, smtp)
    client = shop.api.client
    for _ in range(2):  # mail clients retry the one-click POST
        done = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert "配信を停止しました" in done.get_data(as_text=True)
    assert _consent(shop.app, "M-MAIL") is False
    assert _history(shop.app, "M-MAIL") == [
        (True, "checkout_checkbox"),
        (False, "email_unsubscribe"),
    ]
    # The next reminder does not go by e-mail any more: no address-and-consent, no channel.
    shop.at(START + timedelta(days=1, minutes=5))
    shop.tick()
    assert len(smtp.to(HANAKO)) == 1
    incentive = shop.delivery("incentive", "cart_abandonment")
    assert incentive.reason == "no channel (line: not_on_line, email: no_consent)"


def test_a_new_grant_after_unsubscribing_can_be_withdrawn_again(shop: Shop, smtp: Smtp):
    path = _mail_to_hanako(shop, smtp)
    client = shop.api.client
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    shop.at(START + timedelta(hours=2))
    add_contact(shop.app, "M-MAIL", START + timedelta(hours=2), consent=("email",))
    assert _consent(shop.app, "M-MAIL") is True
    shop.at(START + timedelta(hours=3))
    assert client.post(path).status_code == 200  # the page's button
    assert _consent(shop.app, "M-MAIL") is False
    assert [s for _, s in _history(shop.app, "M-MAIL")] == [
        "checkout_checkbox", "email_unsubscribe", "checkout_checkbox", "email_unsubscribe"
    ]  # fmt: skip


def test_tampered_foreign_and_expired_tokens_are_refused(shop: Shop, smtp: Smtp):
    path = _mail_to_hanako(shop, smtp)
    client = shop.api.client
    add_contact(shop.app, "M-OTHER", START, email="taro@example.jp", consent=("email",))
    token = path.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    # Another member's id under Hanako's signature; a flipped signature; garbage.
    other = make_token(b"test-secret-key", "M-OTHER", "email", START).split(".")[0]
    for bad in (
        f"{other}.{signature}",
        f"{payload}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        "not-a-token",
        f"{payload}.",
        "x" * 600,
    ):
        for method in (client.get, client.post):
            refused = method(f"/email/unsubscribe/{bad}")
            assert refused.status_code == 404, (bad, method)
            assert "無効" in refused.get_data(as_text=True)
    # Signed with another key (another installation, or a guess).
    forged = make_token(b"another-key", "M-OTHER", "email", START)
    assert client.post(f"/email/unsubscribe/{forged}").status_code == 404
    assert _consent(shop.app, "M-OTHER") is True and _consent(shop.app, "M-MAIL") is True
    # Half a year later the link has expired.
    with freeze_time(START + timedelta(days=181)):
        assert client.post(path).status_code == 410
        assert client.get(path).status_code == 410
    assert _consent(shop.app, "M-MAIL") is True


def test_transactional_mail_has_no_unsubscribe_header():
    from bot.core.settings import Settings
    from bot.email.compose import EmailContent, compose

    message = compose(
        EmailContent("ご注文ありがとうございます", "<p>x</p>", "x"),
        settings=Settings(public_base_url="https://bot.example.com"),
        to=HANAKO,
        message_id_value="<delivery-1.abc@bot.example.com>",
        sent_at=START,
        unsubscribe=None,
    )
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
