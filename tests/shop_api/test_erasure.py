"""DELETE /members/{id}: no personal data left, anonymous counts kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask.testing import FlaskClient
from sqlalchemy import select

from bot.db import Base, Database
from bot.models import ErasureCount, TicketReason
from bot.services import linking, support
from bot.services.shoppers import find_shopper
from tests.conftest import SHOPPER_ID
from tests.shop_api.conftest import OTHER_USER_ID, ShopApi
from tests.shop_api.test_linking import typed

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
    support.escalate(
        session,
        find_shopper(session, SHOPPER_ID),
        TicketReason.ASKED_FOR_PERSON,
        datetime.now(UTC),
        "山田様から注文のご相談",
    )
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
    assert counts["link_history"] == 1
    assert counts["webhook_events"] == 2
    assert api.get(f"/members/{MEMBER}").status_code == 404
    assert api.delete(f"/members/{MEMBER}").status_code == 404


def test_counts_accumulate_and_registered_erasers_run(api: ShopApi, db: Database) -> None:
    calls: list[str] = []

    def eraser(session: object, member_id: str, shopper: object) -> dict[str, int]:
        calls.append(f"{member_id}:{shopper.line_user_id}")  # type: ignore[attr-defined]
        return {"deliveries": 2}

    linking.register_eraser(eraser)
    try:
        api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID})
        api.post("/links", {"member_id": "M2", "line_user_id": OTHER_USER_ID})
        assert api.delete("/members/M1").status_code == 204
        assert api.delete("/members/M2").status_code == 204
    finally:
        linking._ERASERS.remove(eraser)
    assert calls == [f"M1:{SHOPPER_ID}", f"M2:{OTHER_USER_ID}"]
    counts = linking.erasure_counts(db.session())
    assert counts["members_erased"] == 2
    assert counts["deliveries"] == 4


def test_unknown_member_is_404(api: ShopApi) -> None:
    response = api.delete("/members/M404")
    assert response.status_code == 404
    assert response.json["error"]["field"] == "member_id"
