"""Follow and unfollow change the state by when they happened, not by when they are handled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text

from bot.core.migrate import upgrade
from bot.line.gateway import InMemoryLineGateway
from bot.models import FollowEvent, FollowState, Shopper
from bot.shoppers.service import record_unfollow
from tests.helpers.line import load_webhook, signed_post

T0 = 1795000000000  # follow.json's timestamp (epoch ms)
T1 = T0 + 60_000
T2 = T0 + 120_000
T3 = T0 + 180_000


def _follow(at: int, event_id: str, *, redelivery: bool = False, unblocked: bool = False) -> dict:
    return load_webhook(
        "follow",
        timestamp=at,
        webhookEventId=event_id,
        replyToken=f"rt-{event_id}",
        deliveryContext={"isRedelivery": redelivery},
        follow={"isUnblocked": unblocked},
    )


def _unfollow(at: int, event_id: str, *, redelivery: bool = False) -> dict:
    return load_webhook(
        "unfollow",
        timestamp=at,
        webhookEventId=event_id,
        deliveryContext={"isRedelivery": redelivery},
    )


def _handle(client: FlaskClient, run_jobs: Callable[[], int], event: dict) -> None:
    assert signed_post(client, [event]).status_code == 200
    run_jobs()


def _shopper(app: Flask) -> Shopper:
    with app.app_context():
        session = app.extensions["db"].session()
        row = session.scalars(select(Shopper)).one()
        session.expunge(row)
        return row


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_an_older_follow_redelivered_after_an_unfollow_leaves_the_shopper_blocked(
    app: Flask, client: FlaskClient, run_jobs: Callable[[], int], line: InMemoryLineGateway
) -> None:
    _handle(client, run_jobs, _follow(T0, "01JF0"))
    _handle(client, run_jobs, _unfollow(T2, "01JU2"))
    replies = len(line.sent("reply"))

    # The follow at T1 failed its first delivery; LINE redelivers it after the unfollow at T2.
    _handle(client, run_jobs, _follow(T1, "01JF1", redelivery=True, unblocked=True))

    shopper = _shopper(app)
    assert shopper.follow_state is FollowState.BLOCKED
    assert shopper.blocked_at == _at(T2)
    assert shopper.follow_changed_at == _at(T2)
    assert shopper.follow_count == 1
    assert len(line.sent("reply")) == replies  # no greeting for a follow long superseded
    assert line.sent("push") == []


def test_an_older_unfollow_redelivered_after_a_follow_leaves_the_shopper_following(
    app: Flask, client: FlaskClient, run_jobs: Callable[[], int]
) -> None:
    _handle(client, run_jobs, _follow(T0, "01JF0"))
    _handle(client, run_jobs, _follow(T2, "01JF2", unblocked=True))
    _handle(client, run_jobs, _unfollow(T1, "01JU1", redelivery=True))

    shopper = _shopper(app)
    assert shopper.follow_state is FollowState.FOLLOWING
    assert shopper.followed_at == _at(T2)
    assert shopper.blocked_at is None


def test_an_older_follow_redelivered_after_a_newer_follow_is_not_greeted_again(
    app: Flask, client: FlaskClient, run_jobs: Callable[[], int], line: InMemoryLineGateway
) -> None:
    _handle(client, run_jobs, _follow(T2, "01JF2"))
    assert len(line.sent("reply")) == 1

    _handle(client, run_jobs, _follow(T1, "01JF1", redelivery=True))

    shopper = _shopper(app)
    assert (shopper.follow_count, shopper.followed_at) == (1, _at(T2))
    assert len(line.sent("reply")) == 1
    assert line.sent("push") == []


def test_in_order_follow_unfollow_follow_applies_each_and_welcomes_back(
    app: Flask, client: FlaskClient, run_jobs: Callable[[], int], line: InMemoryLineGateway
) -> None:
    _handle(client, run_jobs, _follow(T0, "01JF0"))
    assert "はじめまして" in line.sent("reply")[-1]["messages"][0]["text"]
    _handle(client, run_jobs, _unfollow(T1, "01JU1"))
    assert _shopper(app).follow_state is FollowState.BLOCKED

    _handle(client, run_jobs, _follow(T3, "01JF3", unblocked=True))

    shopper = _shopper(app)
    assert shopper.follow_state is FollowState.FOLLOWING
    assert (shopper.followed_at, shopper.follow_changed_at) == (_at(T3), _at(T3))
    assert shopper.follow_count == 2
    assert "おかえりなさい" in line.sent("reply")[-1]["messages"][0]["text"]


def test_both_arriving_in_one_body_out_of_order_end_in_the_later_state(
    app: Flask, client: FlaskClient, run_jobs: Callable[[], int]
) -> None:
    # One webhook body may list events in any order; they are handled oldest first.
    _handle(client, run_jobs, _follow(T0, "01JF0"))
    assert signed_post(client, [_unfollow(T2, "01JU2"), _follow(T1, "01JF1")]).status_code == 200
    run_jobs()

    assert _shopper(app).follow_state is FollowState.BLOCKED


def test_the_migration_takes_the_last_change_from_the_state_already_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'follow.sqlite3'}"
    upgrade(url, "0005")
    engine = create_engine(url)
    columns = (
        "line_user_id, follow_state, followed_at, blocked_at, follow_count, marketing_opt_in, "
        "created_at, updated_at"
    )
    with engine.begin() as conn:
        for user, state, blocked in (("Ua", "following", None), ("Ub", "blocked", "2026-01-02")):
            conn.execute(
                text(
                    f"INSERT INTO shoppers ({columns}) VALUES "
                    "(:u, :s, '2026-01-01 00:00:00', :b, 1, 1, '2026-01-01', '2026-01-01')"
                ),
                {"u": user, "s": state, "b": blocked and f"{blocked} 00:00:00"},
            )
    upgrade(url)
    with engine.connect() as conn:
        rows = dict(
            conn.execute(text("SELECT line_user_id, follow_changed_at FROM shoppers")).all()
        )
    engine.dispose()
    assert rows == {"Ua": "2026-01-01 00:00:00", "Ub": "2026-01-02 00:00:00"}


def test_every_follow_and_block_is_kept_in_the_history(
    app: Flask, client: FlaskClient, run_jobs: Callable[[], int]
) -> None:
    _handle(client, run_jobs, _follow(T0, "01JF0"))
    _handle(client, run_jobs, _unfollow(T2, "01JU2"))
    # A follow redelivered late changes no state, but it happened: the history keeps it.
    _handle(client, run_jobs, _follow(T1, "01JF1", redelivery=True))
    _handle(client, run_jobs, _follow(T3, "01JF3", unblocked=True))
    shopper = _shopper(app)
    assert shopper.follow_state is FollowState.FOLLOWING
    with app.app_context():
        session = app.extensions["db"].session()
        # The same block handled twice (a retried job) is one row.
        record_unfollow(session, shopper.line_user_id, _at(T3), at=_at(T2))
        session.commit()
        history = session.execute(
            select(FollowEvent.following, FollowEvent.at)
            .where(FollowEvent.shopper_id == shopper.id)
            .order_by(FollowEvent.at)
        ).all()
    assert [tuple(row) for row in history] == [
        (True, _at(T0)),
        (True, _at(T1)),
        (False, _at(T2)),
        (True, _at(T3)),
    ]
