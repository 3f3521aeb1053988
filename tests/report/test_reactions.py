"""Opt-outs and blocks after a message, per channel, read from the consent history."""

from __future__ import annotations

from datetime import timedelta

from bot.consents import record_consent
from bot.models import FollowState
from bot.report.build import build_report
from bot.shoppers.service import record_follow, record_unfollow
from tests.helpers.report import NOW, PERIOD, T0, History, book

SENT = T0 + timedelta(minutes=15)
HOUR = timedelta(hours=1)


def withdraw(h: History, member: str, channel: str, at, *, granted: bool = False) -> None:
    record_consent(
        h.session,
        member_id=member,
        channel=channel,
        purpose="marketing",
        granted=granted,
        occurred_at=at,
        source="test",
        now=at,
    )


def test_opt_outs_are_counted_on_the_messages_channel_from_the_history(db):
    session = db.session()
    h = History(session)
    for n, channel in ((1, "line"), (2, "email"), (3, "email"), (4, "line"), (5, "sms")):
        h.delivery(f"s1_{n}", n, "s1", due=SENT).channel = channel
    # 1: 配信停止 on LINE two hours after, 配信再開 later: the withdrawal still counts.
    withdraw(h, "M1", "line", SENT + timedelta(hours=2))
    withdraw(h, "M1", "line", SENT + timedelta(hours=5), granted=True)
    # 2: the e-mail's unsubscribe link an hour after.
    withdraw(h, "M2", "email", SENT + timedelta(hours=1))
    # 3: got an e-mail; withdrew SMS consent and blocked the LINE account: neither is a
    # reaction to the e-mail.
    withdraw(h, "M3", "sms", SENT + timedelta(hours=1))
    h.shoppers[3].follow_state = FollowState.BLOCKED
    h.shoppers[3].blocked_at = SENT + timedelta(hours=1)
    # 4: a LINE friend who is not a member: no history, the present flag is read.
    h.shoppers[4].member_id = None
    h.shoppers[4].marketing_opt_in = False
    h.shoppers[4].opt_in_changed_at = SENT + timedelta(hours=3)
    # 5: stopped SMS 25 hours after: outside the window.
    withdraw(h, "M5", "sms", SENT + timedelta(hours=25))
    session.commit()

    report = build_report(session, book(), PERIOD, NOW)
    (s1,) = [r for r in report["rows"] if r["step"] == "s1"]
    assert (s1["opt_outs_24h"], s1["blocks_24h"]) == (3, 0)
    channels = s1["channels"]
    assert {c: f["opt_outs_24h"] for c, f in channels.items()} == {
        "line": 2,
        "email": 1,
        "sms": 0,
    }
    assert {c: f["sent"] for c, f in channels.items()} == {"line": 2, "email": 2, "sms": 1}
    (cart,) = report["scenarios"]
    assert cart["opt_outs_24h"] == 3


def test_a_line_block_after_a_line_message_counts_once(db):
    session = db.session()
    h = History(session)
    h.delivery("s1_1", 1, "s1", due=SENT)
    withdraw(h, "M1", "line", SENT + timedelta(hours=1))
    h.shoppers[1].marketing_opt_in = False  # the flag and the record of the same 配信停止
    h.shoppers[1].opt_in_changed_at = SENT + timedelta(hours=1)
    h.shoppers[1].follow_state = FollowState.BLOCKED
    h.shoppers[1].blocked_at = SENT + timedelta(hours=2)
    session.commit()
    (s1,) = [r for r in build_report(session, book(), PERIOD, NOW)["rows"] if r["step"] == "s1"]
    assert (s1["opt_outs_24h"], s1["blocks_24h"]) == (1, 1)
    assert s1["channels"]["line"]["opt_outs_24h"] == 1


def test_a_block_counts_even_if_the_shopper_followed_again(db):
    session = db.session()
    h = History(session)
    h.delivery("s1_1", 1, "s1", due=SENT)
    h.delivery("s1_2", 2, "s1", due=SENT)
    h.delivery("s1_3", 3, "s1", due=SENT).channel = "email"
    session.commit()
    for n, blocked_after in ((1, timedelta(hours=3)), (2, timedelta(hours=30)), (3, HOUR)):
        user = h.shoppers[n].line_user_id
        record_unfollow(session, user, SENT + blocked_after, at=SENT + blocked_after)
        record_follow(session, user, SENT + 2 * blocked_after, at=SENT + 2 * blocked_after)
    session.commit()
    assert all(h.shoppers[n].blocked_at is None for n in (1, 2, 3))  # all following now
    (s1,) = [r for r in build_report(session, book(), PERIOD, NOW)["rows"] if r["step"] == "s1"]
    # 1 blocked 3 hours after a LINE message; 2 too late; 3's message was an e-mail.
    assert s1["blocks_24h"] == 1
