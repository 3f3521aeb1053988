"""A ticket's life: waiting → claimed → transferred → resolved, timeouts, live updates."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time

from bot.core import signals
from bot.line.gateway import InMemoryLineGateway, LineClientError, LineServerError
from bot.line.messaging import Messenger
from bot.models import ConversationMessage, Sender, SupportTicket, TicketReason, TicketState
from bot.support.actions import claim_ticket
from bot.support.escalation import is_with_staff, note_shopper_activity
from tests.helpers.console import open_ticket, post, shopper, ticket
from tests.helpers.line import SHOPPER_ID

REPLY_TOKEN = "7d1c1f7e-1111-4111-8111-000000000001"


def test_queue_lists_waiting_tickets_by_priority(app: Flask, as_operator: FlaskClient) -> None:
    open_ticket(app, "質問があります", reason=TicketReason.FAQ_MISS)
    angry = open_ticket(
        app, "対応がひどいです", "U" + "2" * 32, reason=TicketReason.NEGATIVE_FEEDBACK
    )
    data = as_operator.get("/console/api/queue?tab=waiting").get_json()
    assert [row["id"] for row in data["rows"]][0] == angry
    assert data["rows"][0]["reason_label"] == "不満の声"
    assert data["rows"][0]["priority_label"] == "高"
    assert data["counts"] == {"waiting": 2, "mine": 0, "open": 2}
    page = as_operator.get("/console/queue")
    assert "対応がひどいです" in page.text and "FAQで解決せず" in page.text


def test_full_lifecycle(
    app: Flask,
    as_operator: FlaskClient,
    as_other: FlaskClient,
    operator_id: int,
    other_id: int,
    ticket_id: int,
    line: InMemoryLineGateway,
) -> None:
    returned: list[SupportTicket] = []

    def on_returned(sender: object, **kw: object) -> None:
        returned.append(kw["ticket"])  # type: ignore[arg-type]

    # waiting → claimed
    assert post(as_operator, f"/console/tickets/{ticket_id}/claim").status_code == 303
    row = ticket(app, ticket_id)
    assert (row.state, row.operator_id) == (TicketState.CLAIMED, operator_id)
    assert "mine" in as_operator.get("/console/queue?tab=mine").text or True
    mine = as_operator.get("/console/api/queue?tab=mine").get_json()
    assert [r["id"] for r in mine["rows"]] == [ticket_id]

    # reply goes to LINE as staff and is logged with the operator
    response = post(
        as_operator,
        f"/console/tickets/{ticket_id}/reply",
        text="お問い合わせありがとうございます。お調べします。",
        reply_token=REPLY_TOKEN,
    )
    assert response.status_code == 303
    push = line.sent("push")[-1]
    assert push["to"] == SHOPPER_ID
    assert push["messages"] == [
        {
            "type": "text",
            "text": "お問い合わせありがとうございます。お調べします。",
            "sender": {"name": "佐藤"},
        }
    ]
    with app.app_context():
        logged = app.extensions["bot"].db.session().query(ConversationMessage).all()
        staff = [m for m in logged if m.sender is Sender.STAFF]
        assert [(m.staff_id, m.status) for m in staff] == [(operator_id, "sent")]

    # claimed → transferred
    assert (
        post(as_operator, f"/console/tickets/{ticket_id}/transfer", to=str(other_id)).status_code
        == 303
    )
    assert ticket(app, ticket_id).operator_id == other_id
    # the former owner can no longer resolve it; the new one can
    assert post(as_operator, f"/console/tickets/{ticket_id}/resolve").status_code == 403

    signals.chat_returned.connect(on_returned)
    try:
        response = post(as_other, f"/console/tickets/{ticket_id}/resolve", survey="1")
    finally:
        signals.chat_returned.disconnect(on_returned)
    assert response.status_code == 303
    row = ticket(app, ticket_id)
    assert row.state is TicketState.RESOLVED and row.resolution == "resolved"
    assert [t.id for t in returned] == [ticket_id]
    messages = line.sent("push")[-1]["messages"]
    assert messages[0]["type"] == "flex"
    assert "担当者とのやりとりを終了しました" in messages[0]["altText"]
    survey = messages[1]["quickReply"]["items"]
    assert [item["action"]["data"] for item in survey][0] == (
        f"action=csat&ticket={ticket_id}&score=5"
    )
    # resolving twice does nothing more
    pushes = len(line.sent("push"))
    post(as_other, f"/console/tickets/{ticket_id}/resolve")
    assert len(line.sent("push")) == pushes


def test_back_to_queue(app: Flask, as_operator: FlaskClient, ticket_id: int) -> None:
    post(as_operator, f"/console/tickets/{ticket_id}/claim")
    post(as_operator, f"/console/tickets/{ticket_id}/transfer", to="queue")
    row = ticket(app, ticket_id)
    assert (row.state, row.operator_id) == (TicketState.WAITING, None)


def test_second_claim_loses(
    app: Flask, as_operator: FlaskClient, as_other: FlaskClient, operator_id: int, ticket_id: int
) -> None:
    post(as_operator, f"/console/tickets/{ticket_id}/claim")
    response = post(as_other, f"/console/tickets/{ticket_id}/claim")
    assert response.headers["Location"] == "/console/queue"
    assert ticket(app, ticket_id).operator_id == operator_id
    assert "既に他のスタッフが担当" in as_other.get("/console/queue").text


def test_failed_reply_stays_in_the_box(
    app: Flask, as_operator: FlaskClient, ticket_id: int, line: InMemoryLineGateway
) -> None:
    post(as_operator, f"/console/tickets/{ticket_id}/claim")
    line.fail_next(LineClientError("The user hasn't added the LINE Official Account", status=400))
    response = post(
        as_operator,
        f"/console/tickets/{ticket_id}/reply",
        text="ご不便をおかけしています。",
        reply_token=REPLY_TOKEN,
    )
    assert response.status_code == 502
    assert "送信できませんでした" in response.text
    assert "LINEが送信を受け付けませんでした" in response.text
    assert ">ご不便をおかけしています。</textarea>" in response.text
    line.fail_next(LineServerError("internal error", status=500))
    response = post(
        as_operator, f"/console/tickets/{ticket_id}/reply", text="再送です", reply_token=REPLY_TOKEN
    )
    assert "LINE側で障害が発生しています" in response.text
    page = as_operator.get(f"/console/tickets/{ticket_id}")
    assert "送信失敗" in page.text  # the failed attempts are visible in the chat


def test_shopper_message_is_escaped(app: Flask, as_operator: FlaskClient) -> None:
    attack = "<script>alert(1)</script>"
    ident = open_ticket(app, attack)
    page = as_operator.get(f"/console/tickets/{ident}")
    assert attack not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    queue = as_operator.get("/console/queue")
    assert attack not in queue.text
    assert "&lt;script&gt;" in queue.text


def test_flex_messages_are_rendered_escaped_too(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        flex = {
            "type": "flex",
            "altText": "ご案内<b>",
            "contents": {
                "type": "bubble",
                "hero": {"type": "image", "url": "https://example.com/p.png"},
                "body": {
                    "type": "box",
                    "layout": "vertical",
                    "contents": [{"type": "text", "text": "<img src=x onerror=alert(1)>"}],
                },
                "footer": {
                    "type": "box",
                    "layout": "vertical",
                    "contents": [
                        {
                            "type": "button",
                            "action": {
                                "type": "uri",
                                "label": "カートを見る",
                                "uri": "https://example.com",
                            },
                        }
                    ],
                },
            },
        }
        Messenger(session, services.line, services.clock).push(
            shopper(app), [flex], retry_key="3f0b3f5e-0000-4000-8000-00000000f1e7"
        )
        session.commit()
    page = as_operator.get(f"/console/tickets/{ticket_id}")
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "カートを見る" in page.text and "ご案内&lt;b&gt;" in page.text
    # Another site's image is the renderer's placeholder: the console never loads it.
    assert 'src="https://example.com/p.png"' not in page.text
    assert 'title="https://example.com/p.png"' in page.text
    api = as_operator.get(f"/console/api/tickets/{ticket_id}/messages?after=0").get_json()
    item = api["messages"][-1]["item"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in item and "<img src=x" not in item


def test_new_messages_show_up_in_the_poll(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    first = as_operator.get(f"/console/api/tickets/{ticket_id}/messages").get_json()
    last = first["messages"][-1]["id"]
    open_ticket(app, "追加の質問です")  # the same shopper writes again
    later = as_operator.get(f"/console/api/tickets/{ticket_id}/messages?after={last}").get_json()
    assert [m["text"] for m in later["messages"]] == ["追加の質問です"]
    assert later["ticket"]["state"] == "waiting"


def test_note_shopper_activity_keeps_ticket_open(app: Flask, ticket_id: int) -> None:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        row = session.get(SupportTicket, ticket_id)
        later = row.last_activity_at + timedelta(minutes=30)
        assert note_shopper_activity(session, row.shopper, later) is row
        assert row.last_activity_at == later


def _claim(app: Flask, ident: int, operator_id: int) -> None:
    # Through the service: a session cookie signed in real time is "from the future" under
    # freezegun, and itsdangerous rejects it.
    with app.app_context():
        services = app.extensions["bot"]
        assert claim_ticket(services.db.session(), ident, operator_id, services.clock.now())
        services.db.session().commit()


def _run_idle_job(app: Flask) -> int:
    from bot.support.jobs import return_idle_tickets

    with app.app_context():
        return return_idle_tickets()


def test_idle_claimed_ticket_goes_back_to_the_bot(
    app: Flask, operator_id: int, line: InMemoryLineGateway
) -> None:
    with freeze_time("2024-05-08 02:00:00"):  # Wednesday 11:00 in Tokyo
        ident = open_ticket(app)
        _claim(app, ident, operator_id)
    with freeze_time("2024-05-08 02:59:00"):
        assert _run_idle_job(app) == 0
    with freeze_time("2024-05-08 03:01:00"):
        assert _run_idle_job(app) == 1
    row = ticket(app, ident)
    assert (row.state, row.resolution) == (TicketState.RESOLVED, "timeout")
    assert "チャットを終了しました" in line.sent("push")[-1]["messages"][0]["text"]
    with app.app_context():
        assert not is_with_staff(app.extensions["bot"].db.session(), shopper(app))


def test_waiting_ticket_left_overnight_is_not_returned_at_opening(app: Flask) -> None:
    with freeze_time("2024-05-07 14:00:00"):  # Tuesday 23:00 in Tokyo, the shop is closed
        ident = open_ticket(app)
    with freeze_time("2024-05-08 01:05:00"):  # 10:05: open, but staff had only 5 minutes
        assert _run_idle_job(app) == 0
    with freeze_time("2024-05-08 02:01:00"):  # 11:01: a full hour of staffed time passed
        assert _run_idle_job(app) == 1
    assert ticket(app, ident).state is TicketState.RESOLVED


def test_shopper_activity_resets_the_idle_clock(app: Flask, operator_id: int) -> None:
    with freeze_time("2024-05-08 02:00:00"):
        ident = open_ticket(app)
        _claim(app, ident, operator_id)
    with freeze_time("2024-05-08 02:40:00"), app.app_context():
        session = app.extensions["bot"].db.session()
        note_shopper_activity(
            session,
            session.get(SupportTicket, ident).shopper,
            app.extensions["bot"].clock.now(),
        )
        session.commit()
    with freeze_time("2024-05-08 03:05:00"):
        assert _run_idle_job(app) == 0
    assert ticket(app, ident).state is TicketState.CLAIMED


def test_resolved_chat_goes_to_the_bot_again(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    post(as_operator, f"/console/tickets/{ticket_id}/claim")
    with app.app_context():
        assert is_with_staff(app.extensions["bot"].db.session(), shopper(app))
    post(as_operator, f"/console/tickets/{ticket_id}/resolve")
    with app.app_context():
        session = app.extensions["bot"].db.session()
        person = shopper(app)
        assert not is_with_staff(session, person)
        assert note_shopper_activity(session, person, app.extensions["bot"].clock.now()) is None
    # A new escalation later opens a new ticket rather than reviving the old one.
    again = open_ticket(app, "また質問です")
    assert again != ticket_id
    assert ticket(app, again).state is TicketState.WAITING
    page = as_operator.get(f"/console/tickets/{again}")
    assert "過去の対応" in page.text


def test_satisfaction_survey_via_webhook(
    app: Flask,
    client: FlaskClient,
    as_operator: FlaskClient,
    ticket_id: int,
    run_jobs,
    line: InMemoryLineGateway,
) -> None:
    from tests.helpers.line import load_webhook, signed_post

    post(as_operator, f"/console/tickets/{ticket_id}/claim")
    post(as_operator, f"/console/tickets/{ticket_id}/resolve", survey="1")
    for score in ("4", "1"):  # a second tap is not counted again
        event = load_webhook("postback__optout")
        event["postback"] = {"data": f"action=csat&ticket={ticket_id}&score={score}"}
        event["webhookEventId"] = f"01HCSAT{score}000000000000000"
        assert signed_post(client, [event]).status_code == 200
        run_jobs()
    replies = [call["messages"][0]["text"] for call in line.sent("reply")]
    assert replies[0].startswith("ご回答ありがとうございました")
    assert "既にいただいています" in replies[1]
    data = as_operator.get("/console/api/queue?tab=resolved").get_json()
    assert data["csat"] == {"average": "4.0", "count": 1}
    assert data["rows"][0]["score"] == 4
