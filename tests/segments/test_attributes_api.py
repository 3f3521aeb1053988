"""PUT /api/v1/members/{id}/attributes: signed, idempotent, checked field by field, erased
with the member, and stored for members who have not linked yet."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.models import IdempotencyRecord, MemberAttributes
from tests.helpers.line import SHOPPER_ID
from tests.helpers.shop_api import ShopApi

FULL: dict[str, Any] = {
    "tags": ["vip", "newsletter", "vip"],
    "rank": "gold",
    "birthday_month": 11,
    "first_order_date": "2024-02-03",
    "last_order_date": "2026-10-30",
    "order_count": 7,
    "lifetime_value": 48200,
}


def put(api: ShopApi, member: str, body: Any, **kwargs: Any) -> Any:
    return api.call("PUT", f"/members/{member}/attributes", body, **kwargs)


def stored(db: Database, member: str) -> MemberAttributes | None:
    session = db.session()
    session.expire_all()
    return session.get(MemberAttributes, member)


def test_a_member_not_linked_yet_gets_attributes_and_a_put_replaces_them(
    api: ShopApi, db: Database
) -> None:
    first = put(api, "M-NEW", FULL)
    assert first.status_code == 201, first.json
    assert first.json["tags"] == ["vip", "newsletter"]  # each tag once, in the order sent
    assert first.json["first_order_date"] == "2024-02-03"
    row = stored(db, "M-NEW")
    assert row is not None and row.order_count == 7 and row.last_order_date == date(2026, 10, 30)
    again = put(api, "M-NEW", {"order_count": 8})
    assert again.status_code == 200
    row = stored(db, "M-NEW")
    # The whole set is replaced: what was left out is unknown again.
    assert (row.order_count, row.rank, row.tags, row.lifetime_value) == (8, None, [], None)


def test_the_signature_is_required(api: ShopApi, client: Any, db: Database) -> None:
    response = client.put(
        "/api/v1/members/M1/attributes", json=FULL, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert response.status_code == 401
    wrong = ShopApi(client, secret="not-the-shop-secret")
    assert put(wrong, "M1", FULL).status_code == 401
    assert stored(db, "M1") is None


def test_the_same_idempotency_key_replays_and_another_body_is_refused(
    api: ShopApi, db: Database
) -> None:
    first = put(api, "M1", FULL, key="attr-1")
    assert first.status_code == 201
    replay = put(api, "M1", FULL, key="attr-1")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json
    # A replay does not write again: a change made since stays.
    assert put(api, "M1", {"rank": "silver"}).status_code == 200
    assert put(api, "M1", FULL, key="attr-1").status_code == 201
    assert stored(db, "M1").rank == "silver"
    other = put(api, "M1", {"rank": "bronze"}, key="attr-1")
    assert other.status_code == 409
    assert other.json["error"]["code"] == "idempotency_key_reused"
    assert db.session().scalars(select(IdempotencyRecord)).all()[0].method == "PUT"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"birthday_month": 13}, "birthday_month", "must be at most 12"),
        ({"birthday_month": 0}, "birthday_month", "must be at least 1"),
        ({"birthday_month": "11"}, "birthday_month", "must be a whole number"),
        ({"order_count": -1}, "order_count", "must be at least 0"),
        ({"order_count": 2.5}, "order_count", "must be a whole number"),
        ({"lifetime_value": 2**31}, "lifetime_value", "must be at most 2147483647"),
        ({"first_order_date": "2024/02/03"}, "first_order_date", "must be a date YYYY-MM-DD"),
        ({"last_order_date": "2026-02-30"}, "last_order_date", "must be a date YYYY-MM-DD"),
        ({"tags": "vip"}, "tags", "must be a list"),
        ({"tags": ["vip", ""]}, "tags[1]", "1-64 characters without control characters"),
        ({"tags": ["a\tb"]}, "tags[0]", "without control characters"),
        ({"tags": [f"t{n}" for n in range(51)]}, "tags", "at most 50 entries"),
        ({"rank": "x" * 65}, "rank", "1-64 characters"),
        ({"orderCount": 3}, "orderCount", "is not a field of this request"),
    ],
)
def test_a_wrong_field_is_refused_naming_it(
    api: ShopApi, db: Database, change: dict[str, Any], field: str, reason: str
) -> None:
    response = put(api, "M1", {**FULL, **change})
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == field
    assert reason in response.json["error"]["message"]
    assert stored(db, "M1") is None


def test_a_malformed_member_id_or_body_is_refused(api: ShopApi) -> None:
    bad_id = put(api, "M%201", FULL)
    assert (bad_id.status_code, bad_id.json["error"]["field"]) == (400, "member_id")
    assert put(api, "M1", [1, 2]).status_code == 400
    assert (
        put(api, "M1", None, raw=b"{", headers={"Content-Type": "application/json"}).status_code
        == 400
    )


def test_attributes_are_erased_with_the_member(api: ShopApi, db: Database) -> None:
    api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID})
    put(api, "M1", FULL)
    put(api, "M-NEVER-LINKED", FULL)
    put(api, "M2", FULL)
    assert api.delete("/members/M1").status_code == 204
    # Never linked, known only by its attributes: still erasable.
    assert api.delete("/members/M-NEVER-LINKED").status_code == 204
    assert stored(db, "M1") is None and stored(db, "M-NEVER-LINKED") is None
    assert stored(db, "M2") is not None


def test_the_endpoint_is_in_the_openapi_document(client: Any) -> None:
    document = client.get("/api/v1/openapi.json").json
    put_op = document["paths"]["/members/{member_id}/attributes"]["put"]
    names = {p.get("$ref", "").rsplit("/", 1)[-1] for p in put_op["parameters"]}
    assert {"Signature", "Timestamp", "IdempotencyKey"} <= names
    assert set(put_op["responses"]) >= {"200", "201", "400", "401", "409"}
    request = document["components"]["schemas"]["MemberAttributesRequest"]
    assert request["properties"]["birthday_month"]["maximum"] == 12
    assert request["additionalProperties"] is False


def test_get_and_delete_read_and_forget_them_and_never_reach_the_member(
    api: ShopApi, db: Database
) -> None:
    assert api.get("/members/M1/attributes").status_code == 404
    put(api, "M1", FULL)
    got = api.get("/members/M1/attributes")
    assert got.status_code == 200 and got.json["rank"] == "gold"
    # A member id may hold a slash: this one is "M1/attributes" and it is its own member.
    assert put(api, "M1/attributes", {"rank": "bronze"}).status_code == 201
    assert stored(db, "M1/attributes").rank == "bronze"
    assert stored(db, "M1").rank == "gold"
    assert api.delete("/members/M1/attributes", key="forget-1").status_code == 204
    assert stored(db, "M1") is None
    assert api.delete("/members/M1/attributes").status_code == 404
