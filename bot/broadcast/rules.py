"""The marketing rules per shopper of a broadcast: the step-delivery engine's own.

`facts` reads, for a chunk of recipients, what `bot.delivery.send_rules` needs (open chats with
staff, marketing messages sent today, LINE's monthly-limit pause) into its `BatchState`;
`decide` asks those rules about one shopper. The reasons are the engine's, so the console and
the delivery report read them alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.core.settings import Settings
from bot.delivery import engine as deliveries
from bot.delivery import send_rules
from bot.delivery.send_rules import BatchState, local_day_start
from bot.models import (
    BroadcastRecipient,
    Delivery,
    DeliveryState,
    FollowState,
    RecipientState,
    Shopper,
    SupportTicket,
    TicketState,
)

SKIP_UNFOLLOWED = "unfollowed"
SKIP_OPTED_OUT = "opted out"


def among(
    session: Session, column: InstrumentedAttribute[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `= ANY(array)`, one parameter whatever the count."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def marketing_today(
    session: Session, shopper_ids: Sequence[int], since: datetime
) -> dict[int, int]:
    """Marketing messages each shopper got since `since`: step deliveries and broadcasts."""
    if not shopper_ids:
        return {}
    counted: dict[int, int] = {}
    queries = (
        select(Delivery.shopper_id, func.count())
        .where(
            among(session, Delivery.shopper_id, shopper_ids),
            Delivery.marketing.is_(True),
            Delivery.state == DeliveryState.SENT,
            Delivery.sent_at >= since,
        )
        .group_by(Delivery.shopper_id),
        select(BroadcastRecipient.shopper_id, func.count())
        .where(
            among(session, BroadcastRecipient.shopper_id, shopper_ids),
            BroadcastRecipient.state == RecipientState.SENT,
            BroadcastRecipient.sent_at >= since,
        )
        .group_by(BroadcastRecipient.shopper_id),
    )
    for query in queries:
        for shopper_id, n in session.execute(query):
            counted[shopper_id] = counted.get(shopper_id, 0) + n
    return counted


def facts(
    session: Session, shopper_ids: Sequence[int], settings: Settings, now: datetime
) -> BatchState:
    """What the engine's marketing rules read, for these shoppers, in three queries."""
    with_staff = set(
        session.scalars(
            select(SupportTicket.shopper_id)
            .where(
                among(session, SupportTicket.shopper_id, shopper_ids),
                SupportTicket.state != TicketState.RESOLVED,
            )
            .distinct()
        )
    )
    return BatchState(
        flows={},
        shoppers={},
        flow_sent={},
        marketing_today=marketing_today(session, shopper_ids, local_day_start(now, settings)),
        with_staff=with_staff,
        paused_until=deliveries.marketing_paused_until(session, now),
        carts={},
        orders={},
    )


def decide(
    shopper: Shopper | None, state: BatchState, settings: Settings, now: datetime
) -> tuple[RecipientState, str, datetime | None] | None:
    """None: send now. Else the recipient's new state, the reason, and when to look again."""
    if shopper is None or shopper.follow_state is not FollowState.FOLLOWING:
        return RecipientState.SKIPPED, SKIP_UNFOLLOWED, None
    if not shopper.marketing_opt_in:
        return RecipientState.SKIPPED, SKIP_OPTED_OUT, None
    wait = send_rules.marketing_wait(state, shopper, settings, now)
    if wait is not None:
        due_at, why, _depends_on = wait
        return RecipientState.DEFERRED, why, due_at
    return None
