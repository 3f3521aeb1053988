"""Linking through the bot (typed commands, accountLink events) and the shop API."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from bot.core.db import Database
from bot.line.gateway import InMemoryLineGateway
from bot.models import IssuedLinkToken, LinkAction, LinkHistory, LinkNonce, Shopper
from tests.helpers.line import SHOPPER_ID, send, typed
from tests.helpers.shop_api import OTHER_USER_ID, ShopApi

START = datetime(2025, 3, 3, 3, 0, tzinfo=UTC)


def account_link(
    client: FlaskClient, run_jobs: Callable[[], int], nonce: str, user: str = SHOPPER_ID
) -> None:
    send(
        client,
        run_jobs,
        "account_link__ok",
        link={"result": "ok", "nonce": nonce},
        source=_source(user),
    )


def _source(user: str) -> dict[str, str]:
    return {"type": "user", "userId": user}


def texts(line: InMemoryLineGateway, user: str = SHOPPER_ID) -> list[str]:
    """Every text (or alt text) sent to a user, replies included, in order."""
    out = []
    for op, data in line.calls:
        if op == "push" and data["to"] != user:
            continue
        if op not in ("reply", "push"):
            continue
        for message in data["messages"]:
            out.append(message.get("text") or message.get("altText", ""))
    return out


def issued_token(line: InMemoryLineGateway, db: Database, user: str = SHOPPER_ID) -> str:
    """The link token the bot asked LINE for (and recorded) for this user."""
    row = (
        db.session()
        .scalars(
            select(IssuedLinkToken)
            .where(IssuedLinkToken.line_user_id == user)
            .order_by(IssuedLinkToken.id.desc())
        )
        .first()
    )
    assert row is not None
    return row.link_token


def shopper(db: Database, user: str = SHOPPER_ID) -> Shopper:
    db.session().expire_all()
    found = db.session().scalars(select(Shopper).where(Shopper.line_user_id == user)).one()
    return found


@pytest.fixture
def start_link(
    client: FlaskClient, run_jobs: Callable[[], int], line: InMemoryLineGateway, db: Database
) -> Callable[..., str]:
    """The shopper sends 「会員連携」; returns the link token in the login URL the bot sent."""

    def run(user: str = SHOPPER_ID) -> str:
        typed(client, run_jobs, "会員連携", user)
        return issued_token(line, db, user)

    return run


def test_typed_command_sends_login_url_with_a_fresh_link_token(
    client: FlaskClient, run_jobs: Callable[[], int], line: InMemoryLineGateway, db: Database
) -> None:
    typed(client, run_jobs, "会員連携")
    token = issued_token(line, db)
    assert line.sent("link_token") == [{"user_id": SHOPPER_ID}]
    [reply] = line.sent("reply")
    body = json.dumps(reply["messages"], ensure_ascii=False)
    assert f"https://shop.example.jp/line/login?linkToken={token}" in body


def test_account_link_flow_binds_member_and_tells_shopper(
    client: FlaskClient,
    run_jobs: Callable[[], int],
    line: InMemoryLineGateway,
    db: Database,
    api: ShopApi,
    start_link: Callable[..., str],
) -> None:
    token = start_link()
    response = api.post("/link-nonces", {"member_id": "M000123", "link_token": token})
    assert response.status_code == 201
    nonce = response.json["nonce"]
    assert len(nonce) >= 22  # ≥128 bits of randomness, URL-safe
    query = parse_qs(urlsplit(response.json["redirect_url"]).query)
    assert response.json["redirect_url"].startswith(
        "https://access.line.me/dialog/bot/accountLink?"
    )
    assert query == {"linkToken": [token], "nonce": [nonce]}

    account_link(client, run_jobs, nonce)
    assert shopper(db).member_id == "M000123"
    last = texts(line)[-1]
    assert "会員番号 ****123" in last
    assert "「連携解除」" in last


def test_replayed_nonce_is_refused(
    client: FlaskClient,
    run_jobs: Callable[[], int],
    line: InMemoryLineGateway,
    db: Database,
    api: ShopApi,
    start_link: Callable[..., str],
) -> None:
    nonce = api.post("/link-nonces", {"member_id": "M1", "link_token": start_link()}).json["nonce"]
    account_link(client, run_jobs, nonce)
    api.delete("/links/M1")
    run_jobs()
    account_link(client, run_jobs, nonce)
    assert shopper(db).member_id is None
    assert "有効期限が切れたか" in texts(line)[-1]


def test_expired_nonce_is_refused(
    client: FlaskClient,
    run_jobs: Callable[[], int],
    line: InMemoryLineGateway,
    db: Database,
    api: ShopApi,
    start_link: Callable[..., str],
) -> None:
    with freeze_time(START):
        token = start_link()
        nonce = api.post("/link-nonces", {"member_id": "M1", "link_token": token}).json["nonce"]
    with freeze_time(START + timedelta(minutes=9, seconds=59)):
        fresh = api.post("/link-nonces", {"member_id": "M2", "link_token": token})
        assert fresh.status_code == 201
    with freeze_time(START + timedelta(minutes=10)):
        account_link(client, run_jobs, nonce)
    assert shopper(db).member_id is None
    assert "有効期限が切れたか" in texts(line)[-1]


def test_nonce_from_another_users_link_token_is_refused(
    client: FlaskClient,
    run_jobs: Callable[[], int],
    line: InMemoryLineGateway,
    db: Database,
    api: ShopApi,
    start_link: Callable[..., str],
) -> None:
    nonce = api.post("/link-nonces", {"member_id": "M1", "link_token": start_link()}).json["nonce"]
    account_link(client, run_jobs, nonce, user=OTHER_USER_ID)
    assert shopper(db, OTHER_USER_ID).member_id is None
    assert "有効期限が切れたか" in texts(line, OTHER_USER_ID)[-1]
    # The rightful user can still use it.
    account_link(client, run_jobs, nonce)
    assert shopper(db).member_id == "M1"


def test_failed_account_link_is_apologised_for(
    client: FlaskClient,
    run_jobs: Callable[[], int],
    line: InMemoryLineGateway,
    db: Database,
    api: ShopApi,
    start_link: Callable[..., str],
) -> None:
    nonce = api.post("/link-nonces", {"member_id": "M1", "link_token": start_link()}).json["nonce"]
    send(client, run_jobs, "account_link__failed", link={"result": "failed", "nonce": nonce})
    assert shopper(db).member_id is None
    assert "会員連携を完了できませんでした" in texts(line)[-1]


@pytest.mark.parametrize("case", ["unknown", "expired", "used"])
def test_link_nonce_needs_a_live_token_the_bot_issued(
    case: str,
    client: FlaskClient,
    run_jobs: Callable[[], int],
    api: ShopApi,
    start_link: Callable[..., str],
    db: Database,
) -> None:
    with freeze_time(START):
        token = start_link() if case != "unknown" else "NeverIssuedToken123"
        if case == "used":
            nonce = api.post("/link-nonces", {"member_id": "M1", "link_token": token}).json
            account_link(client, run_jobs, nonce["nonce"])
    with freeze_time(START + timedelta(minutes=11 if case == "expired" else 1)):
        response = api.post("/link-nonces", {"member_id": "M2", "link_token": token})
    assert response.status_code == (404 if case == "unknown" else 409)
    assert response.json["error"]["field"] == "link_token"
    assert (
        response.json["error"]["code"]
        == {
            "unknown": "unknown_link_token",
            "expired": "link_token_expired",
            "used": "link_token_used",
        }[case]
    )


def test_direct_link_201_then_200(api: ShopApi, db: Database) -> None:
    body = {"member_id": "M123", "line_user_id": SHOPPER_ID}
    first = api.post("/links", body)
    assert first.status_code == 201
    assert first.json["line_user_id"] == SHOPPER_ID
    assert api.post("/links", body).status_code == 200
    assert len(db.session().scalars(select(LinkHistory)).all()) == 1


def test_relinking_moves_links_and_records_history(
    api: ShopApi, db: Database, line: InMemoryLineGateway, run_jobs: Callable[[], int]
) -> None:
    api.post("/links", {"member_id": "M111", "line_user_id": SHOPPER_ID})
    # The same LINE user now logs in as another member: the link moves.
    assert api.post("/links", {"member_id": "M222", "line_user_id": SHOPPER_ID}).status_code == 201
    # Member M222 then links from another LINE account: it moves again.
    assert (
        api.post("/links", {"member_id": "M222", "line_user_id": OTHER_USER_ID}).status_code == 201
    )
    assert shopper(db).member_id is None
    assert shopper(db, OTHER_USER_ID).member_id == "M222"
    history = db.session().scalars(select(LinkHistory).order_by(LinkHistory.id)).all()
    assert [(h.action, h.member_id, h.line_user_id) for h in history] == [
        (LinkAction.LINKED, "M111", SHOPPER_ID),
        (LinkAction.LINKED, "M222", SHOPPER_ID),
        (LinkAction.UNLINKED, "M222", SHOPPER_ID),
        (LinkAction.LINKED, "M222", OTHER_USER_ID),
    ]
    assert history[1].previous_member_id == "M111"
    assert history[3].previous_line_user_id == SHOPPER_ID

    run_jobs()
    mine = texts(line)
    assert any("会員連携が完了しました" in t and "****111" in t for t in mine)
    assert any("切り替えました" in t and "****222" in t for t in mine)
    assert any("別のLINEアカウントに切り替えられました" in t for t in mine)
    assert any("****222" in t for t in texts(line, OTHER_USER_ID))


def test_unlink_by_api_tells_the_shopper(
    api: ShopApi, db: Database, line: InMemoryLineGateway, run_jobs: Callable[[], int]
) -> None:
    api.post("/links", {"member_id": "M123", "line_user_id": SHOPPER_ID})
    assert api.delete("/links/M123").status_code == 204
    assert api.delete("/links/M123").status_code == 404
    assert shopper(db).member_id is None
    run_jobs()
    assert "会員連携を解除しました(会員番号 ****123)" in texts(line)[-1]


def test_typed_unlink(
    client: FlaskClient,
    run_jobs: Callable[[], int],
    api: ShopApi,
    db: Database,
    line: InMemoryLineGateway,
) -> None:
    typed(client, run_jobs, "連携解除")
    assert "連携中の会員アカウントはありません" in texts(line)[-1]
    api.post("/links", {"member_id": "M123", "line_user_id": SHOPPER_ID})
    run_jobs()
    typed(client, run_jobs, "連携解除")
    assert shopper(db).member_id is None
    assert "会員連携を解除しました" in texts(line)[-1]
    assert api.get("/members/M123").json["linked"] is False


def test_member_state(api: ShopApi, client: FlaskClient, run_jobs: Callable[[], int]) -> None:
    assert api.get("/members/M123").status_code == 404
    with freeze_time(START):
        api.post("/links", {"member_id": "M123", "line_user_id": SHOPPER_ID})
    with freeze_time(START + timedelta(hours=1)):
        typed(client, run_jobs, "配信停止")
    state = api.get("/members/M123").json
    said_at = state["consent_history"][0]["occurred_at"]  # the LINE event's own time
    assert state == {
        "member_id": "M123",
        "linked": True,
        "line_user_id": SHOPPER_ID,
        "linked_at": "2025-03-03T03:00:00Z",
        "follow_state": "following",
        "marketing_opt_in": False,
        "consent_changed_at": "2025-03-03T04:00:00Z",
        "deliveries": [],
        "contact": None,
        "consents": {
            "line": {
                "granted": False,
                "occurred_at": said_at,
                "source": "line_text",
            },
            "email": None,
            "sms": None,
        },
        "consent_history": [
            {
                "id": state["consent_history"][0]["id"],
                "channel": "line",
                "purpose": "marketing",
                "granted": False,
                "occurred_at": said_at,
                "recorded_at": "2025-03-03T04:00:00Z",
                "source": "line_text",
                "evidence": {
                    "webhook_event_id": state["consent_history"][0]["evidence"]["webhook_event_id"]
                },
            }
        ],
    }


def test_link_signals_are_sent(api: ShopApi) -> None:
    from bot.core import signals

    seen: list[tuple[str, str]] = []

    def on_linked(_sender: object, **kw: Any) -> None:
        seen.append(("linked", kw["member_id"]))

    def on_unlinked(_sender: object, **kw: Any) -> None:
        seen.append(("unlinked", kw["member_id"]))

    with (
        signals.member_linked.connected_to(on_linked),
        signals.member_unlinked.connected_to(on_unlinked),
    ):
        api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID})
        api.delete("/links/M1")
    assert seen == [("linked", "M1"), ("unlinked", "M1")]


def test_nonce_rows_are_single_use(
    api: ShopApi, db: Database, start_link: Callable[..., str]
) -> None:
    token = start_link()
    a = api.post("/link-nonces", {"member_id": "M1", "link_token": token}).json["nonce"]
    b = api.post("/link-nonces", {"member_id": "M1", "link_token": token}).json["nonce"]
    assert a != b
    assert db.session().scalars(select(LinkNonce)).all()
