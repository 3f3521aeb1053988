"""The pure parts: channel choice, SMS segment counting, SMTP_URL, tokens, short links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.settings import ConfigError, parse_smtp_url
from bot.delivery.channel_render import render_sms, sms_segments, sms_warnings, ucs2_units
from bot.delivery.channels import NO_REACH, Reach, choose
from bot.delivery.handoff import Handoff, outcome
from bot.delivery.tracking import InvalidLink, sign_short, verify_short
from bot.email.smtp import MailUnconfirmed
from bot.email.tokens import InvalidToken, make_token, read_token
from bot.models import FollowState, Shopper
from bot.sms.provider import SmsRejected, SmsUnavailable

NOW = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)
ALL = ("line", "email", "sms")


def _shopper(**kw: object) -> Shopper:
    values = {
        "line_user_id": "U1",
        "follow_state": FollowState.FOLLOWING,
        "marketing_opt_in": True,
        "member_id": "M1",
    }
    values.update(kw)
    return Shopper(**values)


MAIL = Reach(member_id="M1", email="a@example.jp", email_ok=True, email_consent=True)


@pytest.mark.parametrize(
    ("shopper", "reach", "marketing", "expected"),
    [
        (_shopper(), MAIL, True, ("line", None)),
        (_shopper(follow_state=FollowState.BLOCKED), MAIL, True,
         ("email", "channel:email (line: not_following)")),
        (_shopper(marketing_opt_in=False), MAIL, True,
         ("email", "channel:email (line: opted_out)")),
        # The LINE opt-out flag governs marketing only.
        (_shopper(marketing_opt_in=False), NO_REACH, False, ("line", None)),
        (_shopper(line_user_id=None), Reach(email="a@example.jp", email_ok=True), True,
         (None, "no channel (line: not_on_line, email: no_consent, sms: no_address)")),
        # Transactional mail needs no marketing consent.
        (_shopper(line_user_id=None), Reach(email="a@example.jp", email_ok=True), False,
         ("email", "channel:email (line: not_on_line)")),
        (_shopper(line_user_id=None), Reach(email="a@example.jp", email_consent=True), True,
         (None, "no channel (line: not_on_line, email: undeliverable, sms: no_address)")),
        (_shopper(line_user_id=None), Reach(phone="+819012345678", phone_ok=True, sms_consent=True),
         True, ("sms", "channel:sms (line: not_on_line, email: no_address)")),
    ],
)  # fmt: skip
def test_the_first_channel_the_shopper_can_receive_wins(shopper, reach, marketing, expected):
    choice = choose(ALL, shopper, reach, marketing=marketing)
    assert (choice.channel, choice.reason) == expected


def test_a_channel_not_configured_is_passed_over():
    choice = choose(ALL, _shopper(line_user_id=None), MAIL, marketing=True, configured=("line",))
    assert choice.channel is None
    assert choice.reason == (
        "no channel (line: not_on_line, email: not_configured, sms: not_configured)"
    )


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("あ" * 70, 70, 1),
        ("あ" * 71, 71, 2),
        ("あ" * 134, 134, 2),
        ("あ" * 135, 135, 3),
        ("𠮷" * 35, 70, 1),  # outside the BMP: two UCS-2 units each
        ("𠮷" * 36, 72, 2),
    ],
)
def test_sms_segments_are_counted_in_ucs2(text: str, units: int, segments: int):
    assert ucs2_units(text) == units
    assert sms_segments(text) == segments


def test_the_shipped_sms_texts_fit_in_two_segments():
    tz = UTC
    shipped = (
        "cart_reminder",
        "cart_incentive",
        "cart_low_stock",
        "payment_reminder",
        "repeat_offer",
        "restock_notice",
    )
    for template in shipped:
        assert sms_warnings(template, tz) == []


def test_a_long_sms_is_warned_about(monkeypatch):
    monkeypatch.setattr("bot.delivery.channel_render.render_sms", lambda *a, **k: "長" * 140)
    (warning,) = sms_warnings("cart_reminder", UTC)
    assert "3 SMS segments" in warning


def test_sms_text_renders_the_link_and_opt_out():
    text = render_sms(
        "cart_reminder",
        {"shop_name": "やまと", "cart_url": "https://shop.example.jp/cart"},
        link=lambda url: "https://b.example/r/s/1.x",
        opt_out="配信停止は「停止」と返信",
        tz=UTC,
    )
    assert text == (
        "【やまと】カートに商品が残っています。ご購入はこちら https://b.example/r/s/1.x\n"
        "配信停止は「停止」と返信"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.jp", ("mail.example.jp", 25, None, None, "none")),
        ("smtp://u%40x:p%3Ass@mail.example.jp:587?starttls=1",
         ("mail.example.jp", 587, "u@x", "p:ss", "starttls")),
        ("smtps://u:p@mail.example.jp", ("mail.example.jp", 465, "u", "p", "ssl")),
    ],
)  # fmt: skip
def test_smtp_url(url: str, expected: tuple):
    target = parse_smtp_url(url)
    assert (target.host, target.port, target.username, target.password, target.tls) == expected


@pytest.mark.parametrize(
    "url", ["http://mail.example.jp", "smtp://", "smtps://h?starttls=1", "smtp://h:port"]
)
def test_a_bad_smtp_url_is_refused(url: str):
    with pytest.raises(ConfigError):
        parse_smtp_url(url)


def test_unsubscribe_tokens_are_bound_and_expire():
    token = make_token(b"k", "M1", "email", NOW)
    assert read_token(b"k", token, NOW).member_id == "M1"
    with pytest.raises(InvalidToken, match="bad signature"):
        read_token(b"other", token, NOW)
    with pytest.raises(InvalidToken, match="expired"):
        read_token(b"k", token, NOW + timedelta(days=181))


def test_short_links_name_one_delivery():
    token = sign_short(b"k", 12345)
    assert len(token) <= 20
    assert verify_short(b"k", token) == 12345
    ident, signature = token.split(".")
    for bad in (f"{int(ident, 36) + 1:x}.{signature}", f"{ident}.{signature[::-1]}", "x", ".."):
        with pytest.raises(InvalidLink):
            verify_short(b"k", bad)


def _handoff(error: Exception) -> Handoff:
    return Handoff(1, "sms", "+819012345678", sms_body="x", error=error, marked_at=NOW)


@pytest.mark.parametrize(
    ("error", "action", "keeps_mark", "reason"),
    [
        (SmsUnavailable("503", "503"), "postpone", False, "retrying: sms SmsUnavailable"),
        # The request reached the provider and the answer was lost: it may have gone out.
        (SmsUnavailable("read timeout", maybe_sent=True), "fail", True, "unconfirmed: "),
        (SmsRejected("invalid number", "21211"), "fail", False, "sms rejected (21211): "),
        (MailUnconfirmed("answer lost"), "fail", True, "unconfirmed: answer lost"),
    ],
)
def test_what_a_hand_off_error_leads_to(error, action, keeps_mark, reason):
    decision, keep = outcome(_handoff(error), 1, NOW)
    assert (decision.action, keep) == (action, keeps_mark)
    assert decision.reason.startswith(reason)
