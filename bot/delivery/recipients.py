"""Members known only by e-mail or phone: contact-only shopper rows, and their merge into
the LINE shopper when the member links.

Flows and deliveries hang off `shoppers`. A member whose cart events arrive (keyed
`m:<member id>`) with no linked LINE user, but with an e-mail address or phone number the shop
gave (`bot.consents.set_contact`), gets a shopper row with no LINE user id: `line_user_id`
NULL, `member_id` NULL, `contact_member_id` the member, follow state `not_on_line`. Only
scenarios that may go by e-mail or SMS start for it. Keeping `member_id` NULL leaves the
linking code's rule "one shopper per member" untouched; when the member links a LINE user,
`merge_into` moves the contact row's flows (with their deliveries, clicks and conversions)
to the linked shopper, so no flow starts twice and the next step may go by LINE.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import consents
from bot.delivery import engine as deliveries
from bot.delivery.scenarios import ScenarioBook
from bot.models import (
    Click,
    Conversion,
    Delivery,
    Flow,
    FlowState,
    FollowState,
    ShopEvent,
    Shopper,
)

log = logging.getLogger(__name__)
MERGED = "merged: the member linked LINE and already has this flow"


def contact_shopper(session: Session, member_id: str) -> Shopper | None:
    """The member's contact-only shopper row, if there is one."""
    return session.scalars(select(Shopper).where(Shopper.contact_member_id == member_id)).first()


def recipient_for_key(
    session: Session, key: str, book: ScenarioBook, now: datetime
) -> Shopper | None:
    """For an event about a member with no linked LINE user: their contact-only row, made
    when the shop gave an e-mail or phone and a scenario may use them; else None."""
    kind, _, member_id = key.partition(":")
    if kind != "m" or not member_id or not book.off_line().scenarios:
        return None
    found = contact_shopper(session, member_id)
    if found is not None:
        return found
    contact = consents.contact_of(session, member_id)
    if contact is None or (contact.email is None and contact.phone is None):
        return None
    row = Shopper(
        line_user_id=None,
        contact_member_id=member_id,
        follow_state=FollowState.NOT_ON_LINE,
        follow_count=0,
        marketing_opt_in=False,  # LINE's flag: there is no LINE user to message
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent event made it first
        return contact_shopper(session, member_id)
    return row


def merge_into(session: Session, shopper: Shopper, now: datetime) -> int:
    """Move the linked member's contact-only flows to their LINE shopper; returns how many.

    A flow the LINE shopper already has (same scenario and subject) stays on the contact
    row, ended, so the member gets it once.
    """
    if shopper.member_id is None or shopper.line_user_id is None:
        return 0
    contact = contact_shopper(session, shopper.member_id)
    if contact is None or contact.id == shopper.id:
        return 0
    taken = {
        (scenario_id, subject)
        for scenario_id, subject in session.execute(
            select(Flow.scenario_id, Flow.subject).where(Flow.shopper_id == shopper.id)
        )
    }
    moved = 0
    for flow in session.scalars(select(Flow).where(Flow.shopper_id == contact.id)).all():
        if (flow.scenario_id, flow.subject) in taken:
            if flow.state is FlowState.ACTIVE:
                deliveries.end_flow(session, flow, MERGED, now)
            continue
        flow.shopper_id = shopper.id
        session.execute(
            update(Delivery)
            .where(Delivery.flow_id == flow.id)
            .values(shopper_id=shopper.id)
            .execution_options(synchronize_session="fetch")
        )
        moved += 1
    for model in (Click, Conversion, ShopEvent):
        session.execute(
            update(model)
            .where(model.shopper_id == contact.id)
            .values(shopper_id=shopper.id)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    log.info(
        "contact-only flows merged on link",
        extra={"shopper_id": shopper.id, "from_shopper_id": contact.id, "flows": moved},
    )
    return moved
