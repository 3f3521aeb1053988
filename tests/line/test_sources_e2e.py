"""Groups, rooms, standby, unsend and chat control end to end: emulator → bot → emulator."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from bot.line.chat_handlers import ONE_TO_ONE_ONLY
from bot.models import ConversationMessage, LineChat, Shopper, WebhookEvent
from bot.shoppers.unsend import UNSENT_TEXT


def _states(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        rows = app.extensions["db"].session().scalars(select(WebhookEvent).order_by("id"))
        return [(row.event_type, row.state.value) for row in rows]


def _shoppers(app: Flask) -> int:
    with app.app_context():
        session = app.extensions["db"].session()
        return session.scalar(select(func.count()).select_from(Shopper))


def _notice(app: Flask) -> str:
    return ONE_TO_ONE_ONLY.format(shop=app.extensions["bot"].settings.shop_name)


def test_invited_to_a_group_the_bot_says_it_once_and_leaves(live_bot, emulator, e2e_jobs, e2e_app):
    member = emulator.add_user(display_name="山田 花子")["userId"]
    group = emulator.add_chat("group", members=[member])["chatId"]
    assert emulator.send_join(group).ok
    e2e_jobs()
    chat = emulator.chat(group)
    assert [m["message"]["text"] for m in chat["messages"]] == [_notice(e2e_app)]
    assert (chat["botPresent"], chat["leftByApi"]) == (False, True)
    assert _states(e2e_app) == [("join", "handled")]
    assert _shoppers(e2e_app) == 0


def test_group_text_with_and_without_user_id_never_fails(live_bot, emulator, e2e_jobs, e2e_app):
    member = emulator.add_user()["userId"]
    group = emulator.add_chat("group")["chatId"]
    assert emulator.send_chat_text(group, "会員連携", user_id=member).ok
    room = emulator.add_chat("room")["chatId"]
    assert emulator.send_chat_text(room, "こんにちは").ok
    e2e_jobs()
    assert _states(e2e_app) == [("message", "handled"), ("message", "handled")]
    assert emulator.link_tokens() == []
    assert _shoppers(e2e_app) == 0
    for chat_id in (group, room):
        chat = emulator.chat(chat_id)
        assert chat["leftByApi"] is True
        assert [m["message"]["text"] for m in chat["messages"]] == [_notice(e2e_app)]


def test_member_joined_and_left_of_a_group_the_bot_is_still_in(
    live_bot, emulator, e2e_jobs, e2e_app
):
    member = emulator.add_user()["userId"]
    group = emulator.add_chat("group")["chatId"]
    assert emulator.send_member_left(group, [member]).ok
    e2e_jobs()
    assert emulator.chat(group)["messages"] == []  # left without a word
    assert emulator.chat(group)["leftByApi"] is True
    assert _states(e2e_app) == [("memberLeft", "handled")]


def test_standby_text_is_stored_and_not_answered(live_bot, emulator, e2e_jobs, e2e_app):
    user = emulator.add_user()["userId"]
    assert emulator.send_standby_text(user, "注文を取り消したいです").ok
    e2e_jobs()
    assert emulator.inbox(user) == []
    assert [r["path"] for r in emulator.requests()] == []
    assert _states(e2e_app) == [("message", "ignored")]


def test_deactivated_then_activated_switch_chat_control(live_bot, emulator, e2e_jobs, e2e_app):
    user = emulator.add_user()["userId"]
    emulator.send_deactivated(user)
    e2e_jobs()
    with e2e_app.app_context():
        assert e2e_app.extensions["db"].session().get(LineChat, user).standby is True
    emulator.advance_clock(1)
    emulator.send_activated(user)
    e2e_jobs()
    with e2e_app.app_context():
        assert e2e_app.extensions["db"].session().get(LineChat, user).standby is False
    assert emulator.inbox(user) == []


def test_unsend_through_the_emulator_replaces_the_text(live_bot, emulator, e2e_jobs, e2e_app):
    user = emulator.add_user()["userId"]
    sent = emulator.send_text(user, "住所を間違えて送りました 東京都千代田区1-1")
    e2e_jobs()
    emulator.send_unsend(user, sent.event["message"]["id"])
    e2e_jobs()
    with e2e_app.app_context():
        texts = (
            e2e_app.extensions["db"]
            .session()
            .scalars(select(ConversationMessage.text).where(ConversationMessage.direction == "in"))
            .all()
        )
    assert texts == [UNSENT_TEXT]
