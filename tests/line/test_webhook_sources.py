"""Where the bot answers: one test per fixture of a group, room, standby or unusual event."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.line.chat_handlers import ONE_TO_ONE_ONLY
from bot.line.routing import IGNORED_ON_PURPOSE
from bot.models import IssuedLinkToken, LineChat, Shopper, WebhookEvent
from tests.helpers.line import SHOPPER_ID, load_webhook, signed_post

GROUP = "C22222222222222222222222222222222"
ROOM = "R33333333333333333333333333333333"


def _handle(app, client, run_jobs, *events: dict[str, Any]) -> list[str]:
    """Post the events, run the jobs; the state each event ended in."""
    assert signed_post(client, list(events)).status_code == 200
    run_jobs()
    with app.app_context():
        rows = app.extensions["db"].session().scalars(select(WebhookEvent).order_by("id"))
        return [row.state.value for row in rows]


def _count(app, model) -> int:
    with app.app_context():
        return app.extensions["db"].session().scalar(select(func.count()).select_from(model))


def _chat(app, chat_id: str) -> LineChat | None:
    with app.app_context():
        return app.extensions["db"].session().get(LineChat, chat_id)


def _notice(app, token: str) -> tuple[str, dict[str, Any]]:
    shop = app.extensions["bot"].settings.shop_name
    message = {"type": "text", "text": ONE_TO_ONE_ONLY.format(shop=shop)}
    return ("reply", {"reply_token": token, "messages": [message]})


@pytest.mark.parametrize(
    ("fixture", "token"),
    [("message__text__group", "rt-group-1"), ("message__text__group_without_user", "rt-group-2")],
)
def test_group_text_gets_the_notice_once_and_the_bot_leaves(
    app, client, run_jobs, line, fixture, token
):
    assert _handle(app, client, run_jobs, load_webhook(fixture)) == ["handled"]
    assert line.calls == [_notice(app, token), ("leave_group", {"group_id": GROUP})]
    assert _count(app, Shopper) == 0
    chat = _chat(app, GROUP)
    assert chat is not None and chat.kind == "group" and chat.left_at is not None


@pytest.mark.parametrize(
    ("fixture", "token"),
    [("message__text__room", "rt-room-1"), ("message__text__room_without_user", "rt-room-2")],
)
def test_room_text_gets_the_notice_and_the_bot_leaves(app, client, run_jobs, line, fixture, token):
    assert _handle(app, client, run_jobs, load_webhook(fixture)) == ["handled"]
    assert line.calls == [_notice(app, token), ("leave_room", {"room_id": ROOM})]
    assert _count(app, Shopper) == 0


def test_link_command_in_a_group_issues_no_link_token(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("message__link_command__group")) == [
        "handled"
    ]
    assert [op for op, _ in line.calls] == ["reply", "leave_group"]
    assert _count(app, IssuedLinkToken) == 0
    assert _count(app, Shopper) == 0


def test_link_postback_in_a_group_issues_no_link_token(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("postback__link__group")) == ["handled"]
    assert line.calls == [_notice(app, "rt-group-4"), ("leave_group", {"group_id": GROUP})]
    assert _count(app, IssuedLinkToken) == 0


def test_join_group_says_it_once_even_with_messages_right_behind(app, client, run_jobs, line):
    later = load_webhook("message__text__group_without_user", timestamp=1795000500001)
    assert _handle(app, client, run_jobs, load_webhook("join__group"), later) == [
        "handled",
        "handled",
    ]
    assert line.sent("reply") == [_notice(app, "rt-join-1")[1]]
    assert line.sent("leave_group") == [{"group_id": GROUP}] * 2


def test_join_room_says_it_and_leaves(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("join__room")) == ["handled"]
    assert line.calls == [_notice(app, "rt-join-2"), ("leave_room", {"room_id": ROOM})]


def test_invited_again_after_leaving_says_it_again(app, client, run_jobs, line):
    again = load_webhook("join__group", webhookEventId="01JJOINAGAIN", replyToken="rt-again")
    again["timestamp"] += 3_600_000
    _handle(app, client, run_jobs, load_webhook("join__group"), load_webhook("leave__group"))
    _handle(app, client, run_jobs, again)
    assert [call["reply_token"] for call in line.sent("reply")] == ["rt-join-1", "rt-again"]


def test_leave_group_is_recorded_without_a_call(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("leave__group")) == ["handled"]
    assert line.calls == []
    assert _chat(app, GROUP).left_at is not None


def test_member_joined_gets_the_notice_and_the_bot_leaves(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("member_joined__group")) == ["handled"]
    assert line.calls == [_notice(app, "rt-mj-1"), ("leave_group", {"group_id": GROUP})]
    assert _count(app, Shopper) == 0


def test_member_left_leaves_without_a_word(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("member_left__group")) == ["handled"]
    assert line.calls == [("leave_group", {"group_id": GROUP})]


def test_leave_refused_by_line_still_ends_handled(app, client, run_jobs, line):
    from bot.line.gateway import LineClientError

    line.fail_next(LineClientError("Not found", status=404))  # the notice
    line.fail_next(LineClientError("Not found", status=404))  # the leave
    assert _handle(app, client, run_jobs, load_webhook("join__group")) == ["handled"]


def test_standby_text_is_recorded_not_answered(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("message__text__standby")) == ["ignored"]
    assert line.calls == []


def test_standby_postback_changes_nothing(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("postback__optout__standby")) == ["ignored"]
    assert line.calls == []
    assert _count(app, Shopper) == 0


def test_standby_follow_records_the_follow_without_a_greeting(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("follow__standby")) == ["handled"]
    assert [op for op, _ in line.calls] == ["profile"]
    with app.app_context():
        shopper = app.extensions["db"].session().scalars(select(Shopper)).one()
        assert shopper.follow_count == 1


def test_follow_without_its_detail_is_greeted(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("follow__without_detail")) == ["handled"]
    replies = line.sent("reply")
    assert len(replies) == 1 and "はじめまして" in replies[0]["messages"][0]["text"]


def test_text_without_a_quote_token_is_answered(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("message__text__without_quote_token")) == [
        "handled"
    ]
    assert len(line.sent("reply")) == 1


def test_unknown_message_type_reaches_the_catch_all(app, client, run_jobs, line):
    from bot.models import ConversationMessage

    assert _handle(app, client, run_jobs, load_webhook("message__future_type")) == ["handled"]
    with app.app_context():
        entry = app.extensions["db"].session().scalars(select(ConversationMessage)).one()
    assert (entry.message_type, entry.text) == ("hologram", "[hologram]")
    assert line.calls == []


def test_unknown_source_type_is_ignored(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("message__text__future_source")) == [
        "ignored"
    ]
    assert line.calls == []
    assert _count(app, Shopper) == 0


def test_deactivated_puts_the_chat_on_standby(app, client, run_jobs, line):
    assert _handle(app, client, run_jobs, load_webhook("deactivated")) == ["handled"]
    chat = _chat(app, SHOPPER_ID)
    assert chat is not None and chat.standby is True
    assert line.calls == []
    assert client.get("/healthz").get_json()["chat_control"] == {
        "standby_chats": 1,
        "groups_not_left": 0,
    }


def test_activated_after_deactivated_gives_control_back(app, client, run_jobs, line):
    off = load_webhook("deactivated", timestamp=1795000400000)
    assert _handle(app, client, run_jobs, off, load_webhook("activated")) == [
        "handled",
        "handled",
    ]
    chat = _chat(app, SHOPPER_ID)
    assert chat.standby is False
    assert chat.control_expires_at.timestamp() == 1795004100


def test_older_deactivated_after_activated_changes_nothing(app, client, run_jobs, line):
    _handle(app, client, run_jobs, load_webhook("activated"))
    _handle(app, client, run_jobs, load_webhook("deactivated", timestamp=1795000400000))
    assert _chat(app, SHOPPER_ID).standby is False


@pytest.mark.parametrize("fixture", ["video_play_complete", "beacon", "membership__joined"])
def test_events_ignored_on_purpose(app, client, run_jobs, line, fixture):
    event = load_webhook(fixture)
    assert event["type"] in IGNORED_ON_PURPOSE
    assert _handle(app, client, run_jobs, event) == ["ignored"]
    assert line.calls == []


def test_a_failed_notice_does_not_hold_up_the_leave(app, client, run_jobs, line):
    from bot.line.gateway import LineServerError

    line.fail_next(LineServerError("Internal server error", status=500))  # the notice
    assert _handle(app, client, run_jobs, load_webhook("join__group")) == ["handled"]
    assert [op for op, _ in line.calls] == ["reply", "leave_group"]
