"""The group notice is claimed once per invitation; chat control keeps the newest switch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.line import chats
from bot.models import LineChat

GROUP = "C22222222222222222222222222222222"
USER = "U11111111111111111111111111111111"
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def test_the_notice_is_claimed_once_per_invitation(app):
    with app.app_context():
        session = app.extensions["db"].session()

        def claim(at: datetime, invited: bool) -> bool:
            won = chats.claim_group_notice(session, GROUP, "group", at, T0, invited=invited)
            session.commit()
            return won

        assert claim(T0, invited=True) is True
        assert claim(T0 + timedelta(seconds=1), invited=False) is False  # a message behind it
        assert claim(T0, invited=True) is False  # the same join redelivered
        assert claim(T0 - timedelta(hours=1), invited=True) is False  # an older join
        assert claim(T0 + timedelta(days=1), invited=True) is True  # invited again later


def test_an_older_switch_of_chat_control_changes_nothing(app):
    with app.app_context():
        session = app.extensions["db"].session()
        assert chats.set_chat_control(session, USER, active=False, at=T0, expires_at=None, now=T0)
        assert not chats.set_chat_control(
            session, USER, active=True, at=T0 - timedelta(seconds=1), expires_at=None, now=T0
        )
        session.commit()
        assert session.get(LineChat, USER).standby is True
        assert chats.chat_control_summary(session) == {"standby_chats": 1, "groups_not_left": 0}
