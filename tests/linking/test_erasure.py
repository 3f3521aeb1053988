"""DELETE /members/{id}: no personal data left, anonymous counts kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console.operators import create_operator
from bot.core.db import Base, Database
from bot.linking import members
from bot.linking.members_api import HOOKS_KEY
from bot.models import ErasureCount, LinkHistory, OperatorRole, TicketReason, TicketState
from bot.shoppers.service import find_shopper, record_follow
from bot.support.escalation import escalate
from bot.support.notes import add_note
from bot.support.satisfaction import record_satisfaction
from tests.helpers.delivery import cart_body
from tests.helpers.line import SHOPPER_ID, send, typed
from tests.helpers.shop_api import OTHER_USER_ID, ShopApi

MEMBER = "MEMBER-7788"


def _everything(db: Database) -> str:
    """Every row of every table, as one string, to search for identifiers."""
    session = db.session()
    session.expire_all()
    dump = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)).all():
            dump.append(repr(tuple(row)))
    return "\n".join(dump)


def test_erasure_leaves_no_personal_data(
    api: ShopApi, client: FlaskClient, run_jobs: Callable[[], int], db: Database
) -> None:
    response = api.post("/links", {"member_id": MEMBER, "line_user_id": SHOPPER_ID}, key="k1")
    assert response.status_code == 201
    typed(client, run_jobs, "こんにちは、山田です。注文の件で相談があります")
    typed(client, run_jobs, "会員連携")
    session = db.session()
    escalate(
        session,
        find_shopper(session, SHOPPER_ID),
        TicketReason.ASKED_FOR_PERSON,
        datetime.now(UTC),
        "山田様から注文のご相談",
    )
    record_follow(session, SHOPPER_ID, datetime.now(UTC))  # the follow history
    session.commit()
    # Another shopper's data must survive.
    api.post("/links", {"member_id": "M-OTHER", "line_user_id": OTHER_USER_ID})
    run_jobs()
    before = _everything(db)
    assert SHOPPER_ID in before and MEMBER in before and "山田" in before

    response = api.delete(f"/members/{MEMBER}")
    assert response.status_code == 204

    after = _everything(db)
    assert SHOPPER_ID not in after
    assert MEMBER not in after
    assert "山田" not in after
    assert OTHER_USER_ID in after and "M-OTHER" in after
    counts = {row.name: row.count for row in db.session().scalars(select(ErasureCount))}
    assert counts["members_erased"] == 1
    assert counts["shoppers"] == 1
    assert counts["conversation_messages"] >= 3
    assert counts["support_tickets"] == 1
    assert counts["link_history_anonymised"] == 1
    assert counts["webhook_events"] == 2
    assert counts["follow_events"] == 1
    assert api.get(f"/members/{MEMBER}").status_code == 404
    assert api.delete(f"/members/{MEMBER}").status_code == 404


def test_counts_accumulate_and_registered_erasers_run(
    app: Flask, api: ShopApi, db: Database
) -> None:
    calls: list[str] = []

    def eraser(session: object, member_id: str, line_user_ids: list[str]) -> dict[str, int]:
        calls.append(f"{member_id}:{','.join(line_user_ids)}")
        return {"deliveries": 2}

    app.extensions[HOOKS_KEY].erasers.append(eraser)  # this app's only
    api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID})
    api.post("/links", {"member_id": "M2", "line_user_id": OTHER_USER_ID})
    assert api.delete("/members/M1").status_code == 204
    assert api.delete("/members/M2").status_code == 204
    assert calls == [f"M1:{SHOPPER_ID}", f"M2:{OTHER_USER_ID}"]
    counts = members.erasure_counts(db.session())
    assert counts["members_erased"] == 2
    assert counts["deliveries"] == 4


def test_unknown_member_is_404(api: ShopApi) -> None:
    response = api.delete("/members/M404")
    assert response.status_code == 404
    assert response.json["error"]["field"] == "member_id"


THIRD_USER_ID = "U" + "3" * 32
# What the first test stores about the shopper: ids, name, picture, chat text, a staff note.
PERSONAL = (SHOPPER_ID, MEMBER, "山田", "https://example.com/p.png", "注文の件", "090-1234")


def _history(db: Database) -> list[tuple[str, str, str | None, str | None]]:
    session = db.session()
    session.expire_all()
    return [
        (row.member_id, row.line_user_id, row.previous_member_id, row.previous_line_user_id)
        for row in session.scalars(select(LinkHistory).order_by(LinkHistory.id))
    ]


def _support_history(db: Database, line_user_id: str) -> None:
    """A ticket with a staff note, resolved and rated by the shopper."""
    session = db.session()
    now = datetime.now(UTC)
    shopper = find_shopper(session, line_user_id)
    assert shopper is not None
    operator = create_operator(
        session, "sato@example.jp", "佐藤", "とても長いパスワード123", OperatorRole.OPERATOR, now
    )
    ticket, _ = escalate(
        session, shopper, TicketReason.ASKED_FOR_PERSON, now, "山田様から注文のご相談"
    )
    session.flush()
    add_note(session, ticket, operator, "山田様は再配達を希望、090-1234-5678", now)
    ticket.state, ticket.resolved_at = TicketState.RESOLVED, now
    assert record_satisfaction(session, shopper, ticket.id, 5, now)
    session.commit()


def test_an_unlinked_member_is_erased_everywhere_the_link_history_leads(
    api: ShopApi, client: FlaskClient, run_jobs: Callable[[], int], db: Database
) -> None:
    send(client, run_jobs, "follow")  # the LINE profile: 山田 花子, her picture
    assert api.post("/links", {"member_id": MEMBER, "line_user_id": SHOPPER_ID}).status_code == 201
    typed(client, run_jobs, "こんにちは、山田です。注文の件で相談があります")
    _support_history(db, SHOPPER_ID)
    event = {
        "type": "cart.updated",
        "event_id": "evt-cart-1",
        "occurred_at": "2025-03-03T12:00:00+09:00",
    }
    assert (
        api.post("/events", {**event, "member_id": MEMBER, **cart_body("C-77")}).status_code == 202
    )
    assert api.delete(f"/links/{MEMBER}").status_code == 204  # unlinked before the erasure
    run_jobs()
    before = _everything(db)
    for personal in PERSONAL:
        assert personal in before

    assert api.delete(f"/members/{MEMBER}").status_code == 204

    after = _everything(db)
    for personal in PERSONAL:
        assert personal not in after
    assert "佐藤" in after  # the staff account is not the shopper's data
    # The link history keeps its rows (linked, unlinked), with the ids replaced by tombstones.
    history = _history(db)
    assert len(history) == 2
    assert all(row[0].startswith("erased:") and row[1].startswith("erased:") for row in history)
    assert history[0][:2] == history[1][:2]  # still one person's sequence
    counts = members.erasure_counts(db.session())
    assert counts["shoppers"] == 1
    assert counts["link_history_anonymised"] == 2
    assert counts["internal_notes"] == 1
    assert counts["satisfaction_responses"] == 1
    assert counts["support_tickets"] == 1
    assert counts["webhook_events"] == 2  # the follow and the message
    assert counts["carts"] == 1


def test_every_line_user_the_member_ever_had_is_erased(
    api: ShopApi, client: FlaskClient, run_jobs: Callable[[], int], db: Database
) -> None:
    # The member linked one LINE account, then moved the link to a new phone's account.
    assert api.post("/links", {"member_id": MEMBER, "line_user_id": SHOPPER_ID}).status_code == 201
    typed(client, run_jobs, "古いスマホから失礼します、山田です")
    assert (
        api.post("/links", {"member_id": MEMBER, "line_user_id": THIRD_USER_ID}).status_code == 201
    )
    typed(client, run_jobs, "新しいスマホの山田です", user=THIRD_USER_ID)
    run_jobs()

    assert api.delete(f"/members/{MEMBER}").status_code == 204

    after = _everything(db)
    for personal in (SHOPPER_ID, THIRD_USER_ID, MEMBER, "山田"):
        assert personal not in after
    assert members.erasure_counts(db.session())["shoppers"] == 2


def test_a_line_user_now_linked_to_another_member_is_kept(
    api: ShopApi, client: FlaskClient, run_jobs: Callable[[], int], db: Database
) -> None:
    assert api.post("/links", {"member_id": MEMBER, "line_user_id": SHOPPER_ID}).status_code == 201
    assert api.post("/links", {"member_id": "M-NEW", "line_user_id": SHOPPER_ID}).status_code == 201
    typed(client, run_jobs, "M-NEWの会員として質問です")
    run_jobs()

    assert api.delete(f"/members/{MEMBER}").status_code == 204

    after = _everything(db)
    assert MEMBER not in after
    assert SHOPPER_ID in after and "M-NEWの会員として質問です" in after
    assert api.get("/members/M-NEW").json["line_user_id"] == SHOPPER_ID
    # The move is still recorded, from a member that is now only a tombstone.
    linked_new = [row for row in _history(db) if row[0] == "M-NEW"]
    assert linked_new and linked_new[0][2] is not None and linked_new[0][2].startswith("erased:")
    assert members.erasure_counts(db.session()).get("shoppers", 0) == 0


def test_tombstones_are_keyed_so_a_guessed_id_cannot_be_tested() -> None:
    assert members.tombstone("M123", b"key-one") == members.tombstone("M123", b"key-one")
    assert members.tombstone("M123", b"key-one") != members.tombstone("M123", b"key-two")
    assert members.tombstone("M123", b"key-one") != members.tombstone("M124", b"key-one")
