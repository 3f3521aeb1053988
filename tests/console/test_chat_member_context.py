"""The chat page's side panel: the shopper's open cart and past orders, as the shop sent them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from bot import consents
from tests.helpers.delivery import MAMEZARA, MUG, cart_body, order_body
from tests.helpers.line import SHOPPER_ID
from tests.helpers.shop_api import ShopApi

TEMPLATES = Path(__file__).parents[2] / "bot" / "console" / "templates"


def _event(api: ShopApi, kind: str, body: dict[str, Any]) -> None:
    response = api.post(
        "/events",
        {
            "type": kind,
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2024-05-08T10:30:00+09:00",
            "line_user_id": SHOPPER_ID,
            **body,
        },
    )
    assert response.status_code == 202, response.json


def test_chat_shows_the_open_cart_and_past_orders(
    app: Flask, client: FlaskClient, as_operator: FlaskClient, ticket_id: int
) -> None:
    api = ShopApi(client)
    _event(api, "order.placed", order_body("O-2024-0042", cart_id="C-OLD", total=5500))
    _event(api, "cart.updated", cart_body("C-NOW", [MUG, MAMEZARA]))

    page = as_operator.get(f"/console/tickets/{ticket_id}")

    assert page.status_code == 200
    assert "美濃焼 手描き藍染め マグカップ" in page.text
    assert "有田焼 豆皿5枚セット(花づくし)" in page.text
    assert "O-2024-0042" in page.text
    assert "開いているカートはありません" not in page.text


def test_no_template_iterates_a_dict_method() -> None:
    """`x.items` in Jinja is the dict's method when x is a dict: write x["items"] or x.items()."""
    method = re.compile(r"\.(items|values|keys)\b(?!\s*\()")
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ("{%" in line or "{{" in line) and method.search(line)
    ]
    assert found == []


def test_chat_shows_how_a_member_can_be_mailed_without_the_whole_address(
    app: Flask, client: FlaskClient, as_operator: FlaskClient, ticket_id: int
) -> None:
    api = ShopApi(client)
    assert (
        api.post("/links", {"member_id": "M-7788", "line_user_id": SHOPPER_ID}).status_code == 201
    )
    with app.app_context():
        session = app.extensions["bot"].db.session()
        now = datetime(2024, 5, 8, 1, 30, tzinfo=UTC)
        consents.set_contact(
            session, "M-7788", email="hanako@example.jp", phone="09012345678", now=now
        )
        for granted, day in ((True, 1), (False, 8)):
            consents.record_consent(
                session,
                member_id="M-7788",
                channel="email",
                purpose="marketing",
                granted=granted,
                occurred_at=datetime(2024, 5, day, 1, 0, tzinfo=UTC),
                source="mypage",
                now=now,
            )
        session.commit()

    page = as_operator.get(f"/console/tickets/{ticket_id}")

    reach = re.findall(r'<dd class="reach">([^<]*)</dd>', page.text)
    assert reach == ["h*****@example.jp・配信停止（2024/05/08）", "*********5678・同意なし"]
    assert "hanako@example.jp" not in page.text and "09012345678" not in page.text


def test_the_chat_opens_when_the_reach_lookup_fails(
    client: FlaskClient, as_operator: FlaskClient, ticket_id: int, monkeypatch
) -> None:
    assert (
        ShopApi(client)
        .post("/links", {"member_id": "M-7788", "line_user_id": SHOPPER_ID})
        .status_code
        == 201
    )

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("contacts table unreadable")

    monkeypatch.setattr(consents, "contact_of", broken)
    page = as_operator.get(f"/console/tickets/{ticket_id}")

    assert page.status_code == 200
    assert re.findall(r'<dd class="reach">([^<]*)</dd>', page.text) == ["読み込めませんでした"]
    assert "注文した商品がまだ届きません" in page.text  # the conversation is still there
