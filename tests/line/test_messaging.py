"""Reply first; push only when the reply definitely failed; log every outbound message."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.clock import SystemClock
from bot.line.gateway import LineInvalidReplyToken, LineTimeout, retry_key_for
from bot.line.messaging import Messenger
from bot.models import ConversationMessage, Sender
from bot.shoppers.service import get_or_create_shopper
from tests.helpers.line import SHOPPER_ID

THANKS = [{"type": "text", "text": "お問い合わせありがとうございます。"}]


@pytest.fixture
def messenger(app, line):
    with app.app_context():
        session = app.extensions["db"].session()
        yield Messenger(session, line, SystemClock()), session


def _log(session) -> list[ConversationMessage]:
    return list(session.scalars(select(ConversationMessage).order_by(ConversationMessage.id)))


def test_reply_when_token_is_valid(messenger, line):
    m, session = messenger
    shopper = get_or_create_shopper(session, SHOPPER_ID, SystemClock().now())
    m.reply_or_push(shopper, "rt-1", THANKS, retry_key=retry_key_for("t", 1))
    assert [op for op, _ in line.calls] == ["reply"]
    assert [(e.sender, e.status, e.text) for e in _log(session)] == [
        (Sender.BOT, "sent", "お問い合わせありがとうございます。")
    ]


def test_expired_token_falls_back_to_push_with_retry_key(messenger, line):
    m, session = messenger
    shopper = get_or_create_shopper(session, SHOPPER_ID, SystemClock().now())
    line.fail_next(LineInvalidReplyToken("Invalid reply token", status=400))
    key = retry_key_for("t", 2)
    m.reply_or_push(shopper, "rt-expired", THANKS, retry_key=key)
    assert [op for op, _ in line.calls] == ["reply", "push"]
    assert line.sent("push")[0]["retry_key"] == key
    assert len(_log(session)) == 1


def test_ambiguous_reply_failure_is_logged_unknown_and_raised_for_a_retry(messenger, line):
    m, session = messenger
    shopper = get_or_create_shopper(session, SHOPPER_ID, SystemClock().now())
    line.fail_next(LineTimeout("no answer"))
    with pytest.raises(LineTimeout):
        m.reply_or_push(
            shopper, "rt-3", THANKS, retry_key=retry_key_for("t", 3), webhook_event_id="ev-3"
        )
    assert [op for op, _ in line.calls] == ["reply"]
    assert [(e.status, e.error) for e in _log(session)] == [("unknown", "no answer")]

    # The retry's reply with the same token is accepted: the first one never arrived.
    m.reply_or_push(
        shopper, "rt-3", THANKS, retry_key=retry_key_for("t", 3), webhook_event_id="ev-3"
    )
    assert [op for op, _ in line.calls] == ["reply", "reply"]
    assert [e.status for e in _log(session)] == ["failed", "sent"]


def test_duplicate_push_is_not_logged_twice(messenger, line):
    m, session = messenger
    shopper = get_or_create_shopper(session, SHOPPER_ID, SystemClock().now())
    key = retry_key_for("delivery", 9)
    m.push(shopper, THANKS, retry_key=key)
    again = m.push(shopper, THANKS, retry_key=key)
    assert again.duplicate
    assert len(_log(session)) == 1
