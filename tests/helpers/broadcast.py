"""Helpers for the broadcast tests: many shoppers at once, a composed broadcast, a sender run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Flask
from sqlalchemy import insert, select

from bot.broadcast import compose, service
from bot.broadcast.sending import BroadcastSender
from bot.line.gateway import InMemoryLineGateway, LineError, SendResult
from bot.models import (
    Broadcast,
    BroadcastRecipient,
    ConversationMessage,
    FollowState,
    MemberAttributes,
    MessageInsight,
    PeriodInsight,
    RecipientState,
    Sender,
    Shopper,
)

# 2025-07-01 14:00 in Tokyo: an afternoon, outside quiet hours.
NOON = datetime(2025, 7, 1, 5, 0, tzinfo=UTC)
# A bubble an admin might paste: a summer sale announcement.
SALE_BUBBLE: dict[str, Any] = {
    "type": "bubble",
    "body": {
        "type": "box",
        "layout": "vertical",
        "contents": [
            {
                "type": "text",
                "text": "夏のセール開催中",
                "weight": "bold",
                "size": "xl",
                "color": "#d0021b",
            },
            {"type": "text", "text": "全品10%OFF・7月7日まで", "wrap": True},
        ],
    },
    "footer": {
        "type": "box",
        "layout": "vertical",
        "contents": [
            {
                "type": "button",
                "style": "primary",
                "action": {
                    "type": "uri",
                    "label": "セール会場へ",
                    "uri": "https://shop.example.jp/sale",
                },
            }
        ],
    },
}
SALE_ALT = "夏のセール開催中！全品10%OFF"


def user_id(n: int) -> str:
    """A valid LINE user id for shopper number n."""
    return f"U{n:032x}"


def add_shoppers(
    app: Flask,
    count: int,
    *,
    start: int = 1,
    opted_in: bool = True,
    following: bool = True,
    member_prefix: str | None = None,
    now: datetime = NOON,
) -> list[int]:
    """`count` shoppers written in bulk; returns their ids."""
    rows = [
        {
            "line_user_id": user_id(n),
            "display_name": f"テスト {n}",
            "follow_state": FollowState.FOLLOWING if following else FollowState.BLOCKED,
            "follow_count": 1,
            "marketing_opt_in": opted_in,
            "member_id": f"{member_prefix}{n}" if member_prefix else None,
            "linked_at": now if member_prefix else None,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(start, start + count)
    ]
    with app.app_context():
        session = app.extensions["bot"].db.session()
        session.execute(insert(Shopper), rows)
        session.commit()
        wanted = [r["line_user_id"] for r in rows]
        found = session.execute(
            select(Shopper.id, Shopper.line_user_id).where(Shopper.line_user_id.in_(wanted))
        ).all()
        by_user = {u: i for i, u in found}
        return [by_user[u] for u in wanted]


def set_attributes(app: Flask, member_id: str, **values: Any) -> None:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        session.add(MemberAttributes(member_id=member_id, updated_at=NOON, **values))
        session.commit()


def make_broadcast(
    app: Flask,
    *,
    send_at: datetime = NOON,
    segment: str | None = None,
    content: compose.Content | None = None,
    key: str = "k" * 20,
) -> int:
    """A scheduled broadcast of the sale bubble (or `content`)."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        broadcast, _ = service.create(
            session,
            title="夏のセール",
            content=content or compose.from_flex_json(_json(SALE_BUBBLE), SALE_ALT),
            segment=segment,
            send_at=send_at,
            created_by="kanri@example.jp",
            create_key=key,
            now=send_at,
        )
        session.commit()
        return broadcast.id


def personalised_content(app: Flask) -> compose.Content:
    """The restock notice with each shopper's name: one push per shopper."""
    services = app.extensions["bot"]
    data = compose.template_data_text(services.templates, "restock_notice", services.settings)
    return compose.from_template(
        services.templates,
        "restock_notice",
        "",
        data,
        personalise=True,
        settings=services.settings,
    )


def store_insight(app: Flask, unit: str, day: date, opens: int | None, taps: int | None) -> None:
    """LINE's figures for a unit and day as the daily insight job stores them (None: hidden)."""
    _commit(app, MessageInsight(unit=unit, day=day, unique_impressions=opens, unique_clicks=taps))


def store_period(
    app: Flask, unit: str, days: tuple[date, date], opens: int | None, taps: int | None
) -> None:
    """LINE's figures for a unit over a period (first and last day), as the job stores them."""
    first, last = days
    _commit(
        app,
        PeriodInsight(
            unit=unit, first_day=first, last_day=last, unique_impressions=opens, unique_clicks=taps
        ),
    )


def _commit(app: Flask, row: MessageInsight | PeriodInsight) -> None:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        row.fetched_at = NOON
        session.add(row)
        session.commit()


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def run_sender(app: Flask, broadcast_id: int, **options: Any) -> dict[str, int]:
    """One sender run in the app's context, with the app's gateway and clock."""
    with app.app_context():
        services = app.extensions["bot"]
        sender = BroadcastSender(
            line=services.line,
            clock=services.clock,
            settings=services.settings,
            templates=services.templates,
            sleep=lambda _s: None,
            **options,
        )
        try:
            return sender.run(services.db.session(), broadcast_id)
        finally:
            services.db.session.remove()


def broadcast_row(app: Flask, broadcast_id: int) -> Broadcast:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        row = session.get(Broadcast, broadcast_id)
        assert row is not None
        session.expunge(row)
        return row


def outcomes(app: Flask, broadcast_id: int) -> dict[str, int]:
    """Recipients by state."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        progress = service.progress(session, broadcast_id)
        return dict(progress.by_state)


def recipient_states(app: Flask, broadcast_id: int) -> dict[int, tuple[str, str | None]]:
    """shopper id → (state, reason)."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.execute(
            select(
                BroadcastRecipient.shopper_id, BroadcastRecipient.state, BroadcastRecipient.reason
            ).where(BroadcastRecipient.broadcast_id == broadcast_id)
        )
        return {s: (RecipientState(state).value, reason) for s, state, reason in rows}


def script_multicasts(line: InMemoryLineGateway, *errors: LineError | None) -> list[str | None]:
    """The gateway's n-th multicast raises errors[n] (None: goes through); returns the keys
    of every multicast tried. (`fail_next` would also fail the quota look-up before them.)"""
    original = line.multicast
    script = list(errors)
    tried: list[str | None] = []

    def multicast(
        to: Any, messages: Any, *, retry_key: str | None = None, aggregation_unit: str | None = None
    ) -> SendResult:
        tried.append(retry_key)
        error = script.pop(0) if script else None
        if error is not None:
            raise error
        return original(to, messages, retry_key=retry_key, aggregation_unit=aggregation_unit)

    line.multicast = multicast  # type: ignore[method-assign]
    return tried


def logged(app: Flask) -> dict[int, list[str]]:
    """The bot's messages in each shopper's conversation log (what staff see in the chat)."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        found: dict[int, list[str]] = {}
        for shopper_id, text in session.execute(
            select(ConversationMessage.shopper_id, ConversationMessage.text).where(
                ConversationMessage.sender == Sender.BOT
            )
        ):
            found.setdefault(shopper_id, []).append(text)
        return found
