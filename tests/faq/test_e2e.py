"""Each outcome of a shopper's text, end to end: signed webhook → bot → LINE emulator."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Flask
from sqlalchemy import select

from bot.faq.handlers import NO_MATCH, PERSON_AFTER_MISS
from bot.faq.matcher import DEFAULT_CALIBRATION, FaqMatcher
from bot.faq.store import FaqCache
from bot.models import ConversationMessage, FaqInteraction, SupportTicket, TicketReason
from line_emulator import EmulatorServer
from tests.helpers.line import strings


def quick_reply_data(message: dict[str, Any]) -> list[str]:
    return [item["action"]["data"] for item in message.get("quickReply", {}).get("items", [])]


def delivered(emulator: EmulatorServer, user_id: str) -> list[dict[str, Any]]:
    return emulator.inbox(user_id)


def rows(app: Flask, model: type) -> list[Any]:
    with app.app_context():
        return list(app.extensions["db"].session().scalars(select(model).order_by(model.id)))


def test_confident_question_gets_the_answer_with_feedback_buttons(
    live_bot, emulator, e2e_jobs, e2e_app, shopper
):
    assert emulator.send_text(shopper, "送料はいくらですか?").ok
    e2e_jobs()

    inbox = delivered(emulator, shopper)
    assert len(inbox) == 1 and inbox[0]["via"] == "reply"
    message = inbox[0]["message"]
    assert message["type"] == "flex"
    texts = strings(message["contents"])
    assert any("8,000円(税込)以上のご注文で送料無料" in t for t in texts)
    assert "解決しましたか?" in texts
    assert "action=faq_feedback&faq_id=shipping_fee&resolved=1" in texts
    assert "action=faq_feedback&faq_id=shipping_fee&resolved=0" in texts
    # The first message after start builds the matcher, so the shopper sees the animation,
    # and it was requested before the answer went out.
    assert [r["chatId"] for r in emulator.loading_requests()] == [shopper]
    paths = [r["path"] for r in emulator.requests()]
    assert paths.index("/v2/bot/chat/loading/start") < paths.index("/v2/bot/message/reply")
    (interaction,) = rows(e2e_app, FaqInteraction)
    assert (interaction.outcome, interaction.faq_id) == ("answer", "shipping_fee")
    assert interaction.text == "送料はいくらですか?" and interaction.score > 0.6


def test_warm_matcher_answers_without_the_animation(live_bot, emulator, e2e_jobs, shopper):
    emulator.send_text(shopper, "送料はいくらですか?")
    e2e_jobs()
    emulator.send_text(shopper, "返品はできますか?")
    e2e_jobs()
    assert len(emulator.loading_requests()) == 1
    assert "7日以内で未使用" in delivered(emulator, shopper)[-1]["message"]["altText"]


def test_unsure_question_offers_candidates_and_a_pick_answers_it(
    live_bot, emulator, e2e_jobs, e2e_app, shopper
):
    # A matcher that is never sure: every match becomes 「もしかして」 (the thresholds are the
    # matcher's business; this test is about what the bot does with an unsure result).
    never_sure = replace(DEFAULT_CALIBRATION, answer_at=1.01, suggest_at=0.0)
    e2e_app.extensions["bot"].faq_cache = FaqCache(
        build=lambda entries: FaqMatcher.build(entries, calibration=never_sure)
    )
    emulator.send_text(shopper, "送料はいくらですか?")
    e2e_jobs()

    message = delivered(emulator, shopper)[-1]["message"]
    assert message["type"] == "flex"
    assert "もしかして、こちらのご質問でしょうか?" in strings(message["contents"])
    data = quick_reply_data(message)
    assert data[0] == "action=faq_pick&faq_id=shipping_fee"
    assert data[-1] == PERSON_AFTER_MISS
    assert len(emulator.loading_requests()) == 1

    emulator.send_postback(shopper, "action=faq_pick&faq_id=shipping_fee")
    e2e_jobs()
    answer = delivered(emulator, shopper)[-1]
    assert answer["via"] == "reply"
    assert "action=faq_feedback&faq_id=shipping_fee&resolved=0" in strings(answer["message"])
    outcomes = [(r.outcome, r.faq_id) for r in rows(e2e_app, FaqInteraction)]
    assert outcomes == [("suggest", None), ("picked", "shipping_fee")]


def test_unrelated_text_is_admitted_and_a_person_offered(
    live_bot, emulator, e2e_jobs, e2e_app, shopper
):
    emulator.send_text(shopper, "今日はいい天気ですね")
    e2e_jobs()

    (entry,) = delivered(emulator, shopper)
    assert entry["message"]["text"] == NO_MATCH
    assert quick_reply_data(entry["message"]) == [PERSON_AFTER_MISS]
    assert entry["message"]["quickReply"]["items"][0]["action"]["label"] == "担当者と話す"
    assert len(emulator.loading_requests()) == 1
    assert rows(e2e_app, SupportTicket) == []


def test_asking_for_a_person_escalates_with_the_expected_wait(
    live_bot, emulator, e2e_jobs, e2e_app, shopper
):
    emulator.send_text(shopper, "担当者と話したいです")
    e2e_jobs()

    (ticket,) = rows(e2e_app, SupportTicket)
    assert ticket.reason is TicketReason.ASKED_FOR_PERSON
    assert ticket.summary == "担当者と話したいです"
    handed, wait = (entry["message"] for entry in delivered(emulator, shopper))
    assert "担当者におつなぎしました" in strings(handed["contents"])
    assert wait["text"] == "担当者が順番に対応いたします。目安: 30分以内"
    assert len(emulator.loading_requests()) == 1


def test_loading_animation_failure_does_not_block_the_answer(live_bot, emulator, e2e_jobs, shopper):
    emulator.fail_next(500, path="/v2/bot/chat/loading/start")
    emulator.send_text(shopper, "送料はいくらですか?")
    e2e_jobs()
    assert emulator.loading_requests() == []
    (entry,) = delivered(emulator, shopper)
    assert entry["via"] == "reply" and entry["message"]["type"] == "flex"


def test_commands_are_not_answered_by_the_faq(live_bot, emulator, e2e_jobs, e2e_app, shopper):
    emulator.send_text(shopper, "配信停止")
    e2e_jobs()
    assert "配信を停止しました" in delivered(emulator, shopper)[-1]["message"]["text"]
    assert rows(e2e_app, FaqInteraction) == []
    assert emulator.loading_requests() == []
    inbound = [m.text for m in rows(e2e_app, ConversationMessage) if m.direction == "in"]
    assert inbound == ["配信停止"]
