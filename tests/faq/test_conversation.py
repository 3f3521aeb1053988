"""Escalation, feedback, miss streaks and silence while staff own the chat (in-memory LINE)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from bot.faq.handlers import ALREADY_WITH_STAFF, NO_MATCH, NO_MATCH_AGAIN, RESOLVED_THANKS
from bot.models import FaqInteraction, SupportTicket, TicketReason, TicketState
from tests.helpers.line import load_webhook, signed_post, strings

pytestmark = pytest.mark.usefixtures("faq_imported")

# Saturday 2025-07-05 19:30 in Tokyo: the shop is closed until Monday 10:00.
SATURDAY_EVENING = "2025-07-05T10:30:00+00:00"
MONDAY_MORNING = "2025-07-07T02:00:00+00:00"


@pytest.fixture(autouse=True)
def _in_business_hours() -> Iterator[None]:
    with freeze_time(MONDAY_MORNING, tick=True):
        yield


def send_text(client: Any, body: str, n: int) -> None:
    event = load_webhook(
        "message__text",
        webhookEventId=f"01JFAQTEXT{n:016d}",
        replyToken=f"rt-faq-text-{n}",
        message={"id": f"60000{n}", "type": "text", "text": body, "quoteToken": f"q-{n}"},
    )
    assert signed_post(client, [event]).status_code == 200


def last_reply(line: Any) -> list[dict[str, Any]]:
    return line.sent("reply")[-1]["messages"]


def tickets(app: Any) -> list[SupportTicket]:
    with app.app_context():
        return list(app.extensions["db"].session().scalars(select(SupportTicket)))


def interactions(app: Any) -> list[FaqInteraction]:
    with app.app_context():
        query = select(FaqInteraction).order_by(FaqInteraction.id)
        return list(app.extensions["db"].session().scalars(query))


def test_off_hours_escalation_names_the_next_opening(app, client, run_jobs, line):
    with freeze_time(SATURDAY_EVENING):
        send_text(client, "オペレーターにつないでください", 1)
        run_jobs()
    (message,) = last_reply(line)
    assert message["type"] == "flex"
    texts = strings(message["contents"])
    assert "ただいま営業時間外です" in texts
    assert any("7月7日(月) 10:00以降" in t for t in texts)
    assert "営業時間:平日 10:00〜18:00(祝日を除く)" in texts
    assert "7月7日(月) 10:00以降" in message["altText"]
    (ticket,) = tickets(app)
    assert ticket.reason is TicketReason.ASKED_FOR_PERSON and ticket.state is TicketState.WAITING


def test_escalation_on_a_national_holiday_names_the_next_working_day(app, client, run_jobs, line):
    with freeze_time("2026-11-23T03:00:00+00:00"):  # 勤労感謝の日 (a Monday), 12:00 in Tokyo
        send_text(client, "人と話したいです", 1)
        run_jobs()
    (message,) = last_reply(line)
    assert "ただいま営業時間外です" in strings(message["contents"])
    assert "11月24日(火) 10:00以降" in message["altText"]  # not the holiday itself


def test_negative_feedback_escalates_at_once(app, client, run_jobs, line):
    send_text(client, "送料はいくらですか?", 1)
    run_jobs()
    assert signed_post(client, [load_webhook("postback__faq_feedback")]).status_code == 200
    run_jobs()

    (ticket,) = tickets(app)
    assert ticket.reason is TicketReason.NEGATIVE_FEEDBACK
    assert ticket.summary == "「送料はいくらですか?」の自動回答では解決しませんでした"
    handed, wait = last_reply(line)
    assert "担当者におつなぎしました" in strings(handed["contents"])
    assert wait["text"].endswith("目安: 30分以内")
    assert [(i.outcome, i.resolved) for i in interactions(app)] == [("answer", False)]


def test_positive_feedback_is_thanked_and_recorded(app, client, run_jobs, line):
    send_text(client, "送料はいくらですか?", 1)
    run_jobs()
    signed_post(client, [load_webhook("postback__faq_feedback__resolved")])
    run_jobs()
    assert last_reply(line) == [{"type": "text", "text": RESOLVED_THANKS}]
    assert [(i.faq_id, i.resolved) for i in interactions(app)] == [("shipping_fee", True)]
    assert tickets(app) == []


def test_two_misses_in_a_row_offer_a_person_and_the_tap_escalates(app, client, run_jobs, line):
    send_text(client, "今日はいい天気ですね", 1)
    run_jobs()
    assert last_reply(line)[0]["text"] == NO_MATCH
    send_text(client, "お店の場所はどこ?", 2)
    run_jobs()
    (offer,) = last_reply(line)
    assert offer["text"] == NO_MATCH_AGAIN
    assert offer["quickReply"]["items"][0]["action"]["data"] == "action=human&reason=faq_miss"
    assert tickets(app) == []  # an offer, not yet a ticket

    signed_post(client, [load_webhook("postback__faq_human")])
    run_jobs()
    (ticket,) = tickets(app)
    assert ticket.reason is TicketReason.FAQ_MISS
    assert (
        ticket.summary == "自動応答で答えられなかった質問: 今日はいい天気ですね / お店の場所はどこ?"
    )
    assert "担当者におつなぎしました" in strings(last_reply(line)[0]["contents"])


def test_an_answer_between_misses_breaks_the_streak(app, client, run_jobs, line):
    send_text(client, "今日はいい天気ですね", 1)
    send_text(client, "送料はいくらですか?", 2)
    send_text(client, "お店の場所はどこ?", 3)
    run_jobs()
    assert last_reply(line)[0]["text"] == NO_MATCH


def test_no_auto_answer_while_a_person_owns_the_chat(app, client, run_jobs, line):
    send_text(client, "人と話したい", 1)
    run_jobs()
    replies = len(line.sent("reply"))
    send_text(client, "送料はいくらですか?", 2)
    send_text(client, "担当者さんまだですか?スタッフと話したい", 3)
    run_jobs()

    assert len(line.sent("reply")) == replies  # nothing said, no push either
    assert line.sent("push") == []
    assert len(tickets(app)) == 1
    with app.app_context():
        from bot.models import ConversationMessage

        texts = [
            m.text
            for m in app.extensions["db"]
            .session()
            .scalars(
                select(ConversationMessage)
                .where(ConversationMessage.direction == "in")
                .order_by(ConversationMessage.id)
            )
        ]
    assert texts[-2:] == ["送料はいくらですか?", "担当者さんまだですか?スタッフと話したい"]
    # Tapping 「担当者と話す」 again is acknowledged without a second ticket.
    signed_post(client, [load_webhook("postback__faq_human")])
    run_jobs()
    assert last_reply(line) == [{"type": "text", "text": ALREADY_WITH_STAFF}]
    assert len(tickets(app)) == 1


def test_the_bot_answers_again_once_the_ticket_is_resolved(app, client, run_jobs, line):
    send_text(client, "有人対応をお願いします", 1)
    run_jobs()
    with app.app_context():
        session = app.extensions["db"].session()
        ticket = session.scalars(select(SupportTicket)).one()
        ticket.state = TicketState.RESOLVED
        session.commit()
    send_text(client, "送料はいくらですか?", 2)
    run_jobs()
    assert "送料無料" in last_reply(line)[0]["altText"]


def test_pick_of_an_entry_removed_by_a_reimport_says_so(
    app, client, run_jobs, line, runner, tmp_path
):
    smaller = tmp_path / "faq.yaml"
    smaller.write_text(
        "faqs:\n  - id: shipping_fee\n    question: 送料は?\n    answer: 一律600円です。\n",
        encoding="utf-8",
    )
    assert runner.invoke(args=["faq", "import", str(smaller)]).exit_code == 0
    signed_post(client, [load_webhook("postback__faq_pick")])
    run_jobs()
    assert "現在ご案内できません" in last_reply(line)[0]["text"]


def test_malformed_feedback_is_ignored(app, client, run_jobs, line):
    event = load_webhook(
        "postback__faq_feedback", postback={"data": "action=faq_feedback&faq_id=x&resolved=maybe"}
    )
    signed_post(client, [event])
    run_jobs()
    assert line.sent("reply") == [] and tickets(app) == []


def test_the_no_match_answer_quotes_the_question(app, client, run_jobs, line):
    send_text(client, "ペットの写真を送ってもいいですか", 41)
    run_jobs()
    (message,) = last_reply(line)
    assert (message["text"], message["quoteToken"]) == (NO_MATCH, "q-41")
