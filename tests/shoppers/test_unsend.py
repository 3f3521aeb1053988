"""unsend: the text a shopper took back leaves the conversation log, the FAQ log, the stored
event and the console; that a message was sent and taken back stays."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import (
    ConversationMessage,
    Direction,
    FaqInteraction,
    Shopper,
    TicketReason,
    WebhookEvent,
)
from bot.shoppers.unsend import UNSENT_TEXT
from bot.support.escalation import escalate
from tests.helpers.console import login, make_operator
from tests.helpers.line import load_webhook, signed_post

ORIGINAL = "こんにちは!送料について教えてください😊"


def _send_and_unsend(client, run_jobs, **unsend) -> None:
    signed_post(client, [load_webhook("message__text")])
    run_jobs()
    signed_post(client, [load_webhook("unsend", **unsend)])
    run_jobs()


def test_unsend_replaces_the_text_everywhere_it_was_kept(app, client, run_jobs):
    _send_and_unsend(client, run_jobs)
    with app.app_context():
        session = app.extensions["db"].session()
        inbound = session.scalars(
            select(ConversationMessage).where(ConversationMessage.direction == Direction.INBOUND)
        ).one()
        assert (inbound.message_type, inbound.text) == ("text", UNSENT_TEXT)
        assert [row.text for row in session.scalars(select(FaqInteraction))] == [None]
        events = {row.event_type: row for row in session.scalars(select(WebhookEvent))}
        assert events["unsend"].state.value == "handled"
        assert events["message"].payload["message"] == {
            "id": "5000000001",
            "type": "text",
            "unsent": True,
        }
        assert ORIGINAL not in str(events["message"].payload)


def test_unsend_of_an_unknown_message_changes_nothing(app, client, run_jobs):
    _send_and_unsend(client, run_jobs, unsend={"messageId": "9999999999"})
    with app.app_context():
        session = app.extensions["db"].session()
        texts = session.scalars(
            select(ConversationMessage.text).where(
                ConversationMessage.direction == Direction.INBOUND
            )
        ).all()
    assert texts == [ORIGINAL]


def test_unsend_in_standby_mode_still_removes_the_text(app, client, run_jobs, line):
    _send_and_unsend(client, run_jobs, mode="standby")
    with app.app_context():
        session = app.extensions["db"].session()
        inbound = session.scalars(
            select(ConversationMessage.text).where(
                ConversationMessage.direction == Direction.INBOUND
            )
        ).one()
    assert inbound == UNSENT_TEXT


def test_console_shows_that_a_message_was_unsent_not_its_text(app, client, run_jobs):
    _send_and_unsend(client, run_jobs)
    with app.app_context():
        session = app.extensions["db"].session()
        shopper = session.scalars(select(Shopper)).one()
        ticket, _ = escalate(
            session, shopper, TicketReason.ASKED_FOR_PERSON, app.extensions["bot"].clock.now()
        )
        session.commit()
        ticket_id = ticket.id
    make_operator(app, "sato@example.jp", "佐藤")
    console = app.test_client()
    login(console, "sato@example.jp")
    page = console.get(f"/console/tickets/{ticket_id}").get_data(as_text=True)
    api = console.get(f"/console/api/tickets/{ticket_id}/messages").get_data(as_text=True)
    assert UNSENT_TEXT in page
    assert ORIGINAL not in page and "送料について" not in api


def test_unsend_removes_the_question_from_the_ticket_summary(app, client, run_jobs):
    from bot.models import SupportTicket

    question = load_webhook("message__text")
    question["message"] = dict(question["message"], text="人と話したい")
    signed_post(client, [question])
    run_jobs()
    with app.app_context():
        summary = app.extensions["db"].session().scalars(select(SupportTicket.summary)).one()
    assert "人と話したい" in summary
    signed_post(client, [load_webhook("unsend")])
    run_jobs()
    with app.app_context():
        summary = app.extensions["db"].session().scalars(select(SupportTicket.summary)).one()
    assert "人と話したい" not in summary and UNSENT_TEXT in summary
