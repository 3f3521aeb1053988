"""Idempotency-Key replay, conflicts, concurrency; JSON errors for bad requests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import func, select

from bot.core.db import Database
from bot.models import IdempotencyRecord, LinkHistory
from tests.helpers.line import SHOPPER_ID
from tests.helpers.shop_api import OTHER_USER_ID, ShopApi

BODY = {"member_id": "M123", "line_user_id": SHOPPER_ID}


def _history_rows(db: Database) -> int:
    return db.session().scalar(select(func.count()).select_from(LinkHistory)) or 0


def test_non_ascii_key_is_refused(api: ShopApi, db: Database) -> None:
    response = api.post(
        "/links", BODY, headers={"Idempotency-Key": "注文-0001".encode().decode("latin-1")}
    )
    assert response.status_code == 400
    assert response.json["error"]["field"] == "Idempotency-Key"
    assert _history_rows(db) == 0


def test_same_key_same_body_replays_the_first_response(
    api: ShopApi, app: Flask, db: Database
) -> None:
    first = api.post("/links", BODY, key="k-1")
    assert first.status_code == 201
    replay = api.post("/links", BODY, key="k-1")
    assert replay.status_code == 201  # not 200: the first answer, not a second attempt
    assert replay.json == first.json
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert _history_rows(db) == 1
    assert app.extensions["bot"].queues.default.count == 1  # one notice for the shopper
    fresh = api.post("/links", BODY, key="k-1b")
    assert fresh.status_code == 200


def test_same_key_other_body_is_409(api: ShopApi, db: Database) -> None:
    assert api.post("/links", BODY, key="k-2").status_code == 201
    other = api.post("/links", {**BODY, "member_id": "M999"}, key="k-2")
    assert other.status_code == 409
    assert other.json["error"]["code"] == "idempotency_key_reused"
    assert other.json["error"]["field"] == "Idempotency-Key"
    assert db.session().scalar(select(LinkHistory.member_id)) == "M123"


def test_same_key_on_another_path_is_409(api: ShopApi) -> None:
    assert api.post("/links", BODY, key="k-3").status_code == 201
    assert api.delete("/links/M123", key="k-3").status_code == 409


def test_delete_replays_204(api: ShopApi, db: Database) -> None:
    api.post("/links", BODY)
    assert api.delete("/links/M123", key="d-1").status_code == 204
    assert api.delete("/links/M123", key="d-1").status_code == 204
    assert api.delete("/links/M123").status_code == 404


def test_errors_are_not_stored(api: ShopApi, db: Database) -> None:
    assert api.post("/links", {"member_id": ""}, key="k-4").status_code == 400
    assert db.session().scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    assert api.post("/links", BODY, key="k-5").status_code == 201


def test_keys_expire_after_24_hours(api: ShopApi, db: Database) -> None:
    start = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    with freeze_time(start):
        assert api.post("/links", BODY, key="k-6").status_code == 201
    with freeze_time(start + timedelta(hours=23, minutes=59)):
        assert api.post("/links", {**BODY, "member_id": "M9"}, key="k-6").status_code == 409
    with freeze_time(start + timedelta(hours=24, seconds=1)):
        assert api.post("/links", {**BODY, "member_id": "M9"}, key="k-6").status_code == 201


def test_malformed_key_is_400(api: ShopApi) -> None:
    response = api.post("/links", BODY, key="a" * 256)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "Idempotency-Key"


def test_concurrent_same_key_runs_the_effect_once(app: Flask, db: Database) -> None:
    """Two threads race with one key: one effect, and both answer with the same link."""
    if db.dialect == "sqlite":
        pytest.skip("the race needs PostgreSQL's row locks to be meaningful")
    barrier = threading.Barrier(4)
    results: list[tuple[int, object]] = []
    lock = threading.Lock()

    now = int(time.time())

    def call(index: int) -> None:
        api = ShopApi(app.test_client())
        barrier.wait()
        # One timestamp each: the same request signed twice in a second is a replay.
        response = api.post(
            "/links",
            {"member_id": "M123", "line_user_id": OTHER_USER_ID},
            key="race",
            timestamp=now + index,
        )
        with lock:
            results.append((response.status_code, response.json))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 4
    # The losers wait on the unique key, then replay the winner's answer.
    assert [status for status, _ in results] == [201] * 4
    assert len({str(body) for _, body in results}) == 1
    assert _history_rows(db) == 1
    assert db.session().scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


def test_body_over_one_mebibyte_is_413_json(api: ShopApi) -> None:
    response = api.post("/links", raw=b'{"member_id": "' + b"x" * (1024 * 1024 + 10) + b'"}')
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


def test_unknown_path_and_method_are_json(api: ShopApi) -> None:
    missing = api.get("/no-such-thing")
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "not_found"
    wrong_method = api.call("PUT", "/links", {"member_id": "M1"})
    assert wrong_method.status_code == 405
    assert wrong_method.json["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (b"not json", "invalid_json", None),
        (b"[1, 2]", "invalid_json", None),
        (b"\xff\xfe", "invalid_json", None),
        (b'{"line_user_id": "U' + b"1" * 32 + b'"}', "missing_field", "member_id"),
        (
            b'{"member_id": 123, "line_user_id": "U' + b"1" * 32 + b'"}',
            "invalid_field",
            "member_id",
        ),
        (
            b'{"member_id": "M 1", "line_user_id": "U' + b"1" * 32 + b'"}',
            "invalid_field",
            "member_id",
        ),
        (b'{"member_id": "M1", "line_user_id": "U123"}', "invalid_field", "line_user_id"),
        (
            b'{"member_id": "M1", "line_user_id": "U' + b"1" * 32 + b'", "x": 1}',
            "unknown_field",
            "x",
        ),
    ],
)
def test_bad_bodies_name_the_problem(
    api: ShopApi, raw: bytes, code: str, field: str | None
) -> None:
    response = api.post("/links", raw=raw)
    assert response.status_code == 400
    assert response.json["error"]["code"] == code
    assert response.json["error"]["field"] == field


def test_purge_job_drops_only_expired_records(api: ShopApi, app: Flask, db: Database) -> None:
    from bot.linking.maintenance import purge_expired_link_records

    start = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    with freeze_time(start):
        api.post("/links", BODY, key="old")
    with freeze_time(start + timedelta(hours=20)):
        api.post("/links", {**BODY, "member_id": "M2"}, key="new")
    with freeze_time(start + timedelta(hours=24, minutes=1)), app.app_context():
        assert purge_expired_link_records() == 1
    keys = db.session().scalars(select(IdempotencyRecord.key)).all()
    assert keys == ["new"]
