"""A multicast step's messages (`multicast: true`, e.g. restock notices) as one request.

Such a step is rendered without the shopper's name and with links that name no shopper, so
the messages of a batch that are due together come out the same. The sender groups those
that are (same message, aggregation unit and category; a send batch holds 100, LINE takes
500) and sends each group as one `POST /v2/bot/message/multicast`.

A crash must not send a group twice. The group's key (a UUID, the request's retry key) is
written on every member row as `message_id = "multicast:<key>"` and committed before the
request. A member claimed again later (its batch died) is sent with its group: every member
still open, under the same key. If LINE took the first request it answers 409 and the
members count as sent; if not, the group goes out now. The re-formed batches may split a
group: each part then sends the whole group under the one key, and LINE delivers it once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.delivery.scenarios import Step
from bot.line.gateway import MULTICAST_MAX_RECIPIENTS
from bot.models import Delivery, DeliveryState, Shopper

if TYPE_CHECKING:
    from bot.delivery.sender import Push

PREFIX = "multicast:"


@dataclass
class Group:
    """Pushes sent as one multicast; `key` is the retry key and the rows' mark."""

    key: str
    pushes: list[Push]
    resent: bool = False  # a crashed batch's group, sent again under its key
    recipients: list[str] = field(default_factory=list)

    @property
    def mark(self) -> str:
        return PREFIX + self.key


def form_groups(
    pushes: Sequence[Push],
    deliveries: Mapping[int, Delivery],
    step_of: Callable[[Delivery], Step | None],
) -> list[Group]:
    """The batch's multicast groups: marked rows with their old group, then new groups of
    two or more identical messages of multicast steps. The other pushes stay pushes."""
    old: dict[str, list[Push]] = {}
    same: dict[str, list[Push]] = {}
    for push in pushes:
        delivery = deliveries[push.delivery_id]
        if delivery.message_id and delivery.message_id.startswith(PREFIX):
            old.setdefault(delivery.message_id.removeprefix(PREFIX), []).append(push)
            continue
        step = step_of(delivery)
        if step is None or not step.multicast:
            continue
        signature = json.dumps([push.message, push.unit, push.marketing], sort_keys=True)
        same.setdefault(signature, []).append(push)
    groups = [Group(key, members, resent=True) for key, members in old.items()]
    for members in same.values():
        if len(members) < 2:
            continue  # one shopper: an ordinary push
        for start in range(0, len(members), MULTICAST_MAX_RECIPIENTS):
            chunk = members[start : start + MULTICAST_MAX_RECIPIENTS]
            if len(chunk) >= 2:
                groups.append(Group(str(uuid.uuid4()), chunk))
    return groups


def mark(groups: Sequence[Group], deliveries: Mapping[int, Delivery]) -> None:
    """Put each new group's mark on its rows (the caller commits before any request)."""
    for group in groups:
        if not group.resent:
            for push in group.pushes:
                deliveries[push.delivery_id].message_id = group.mark
            group.recipients = [push.to for push in group.pushes]


def find_recipients(session: Session, groups: Sequence[Group], skipped: set[int]) -> None:
    """A resent group's recipients: every member still open, held by this batch or another
    (a re-formed batch may hold only part of it), but none this batch decided not to send."""
    for group in groups:
        if not group.resent:
            continue
        rows = session.execute(
            select(Delivery.id, Shopper.line_user_id)
            .join(Shopper, Shopper.id == Delivery.shopper_id)
            .where(
                Delivery.message_id == group.mark,
                Delivery.state.in_([DeliveryState.SENDING, DeliveryState.PENDING]),
            )
            .order_by(Delivery.id)
        ).all()
        ours = {push.delivery_id for push in group.pushes}
        group.recipients = [
            to for row_id, to in rows if to and row_id not in skipped and row_id not in ours
        ] + [push.to for push in group.pushes]
        group.recipients = group.recipients[:MULTICAST_MAX_RECIPIENTS]
