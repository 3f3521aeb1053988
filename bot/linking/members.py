"""Members seen from the shop: what it may know about a member's LINE side, and erasure of
everything personal about a member on request (the other features' rows through their
erasers, registered per app in `MemberHooks`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from bot.linking.service import member_shopper
from bot.models import (
    Click,
    ConversationMessage,
    Conversion,
    Delivery,
    ErasureCount,
    FaqInteraction,
    Flow,
    FollowEvent,
    IdempotencyRecord,
    InternalNote,
    IssuedLinkToken,
    LinkHistory,
    LinkNonce,
    SatisfactionResponse,
    Shopper,
    SupportTicket,
    WebhookEvent,
)

# A feature's eraser deletes that feature's rows about the member and about each LINE user
# being erased with it (an empty list when none ever linked) and returns counts per kind.
Eraser = Callable[[Session, str, Sequence[str]], dict[str, int]]
# Extra fields of GET /members/{id} (e.g. the delivery engine's deliveries).
MemberExtras = Callable[[Session, Shopper], dict[str, Any]]
# Extra fields of GET /members/{id} by member id, linked or not (e.g. contact and consent),
# and whether a feature stores anything about a member who never linked.
MemberFields = Callable[[Session, str], dict[str, Any]]
MemberKnown = Callable[[Session, str], bool]


@dataclass
class MemberHooks:
    """What other features add to a member, per app (`create_app` fills it in): their
    erasers, run by `erase_member`, and their fields of `member_state`."""

    erasers: list[Eraser] = field(default_factory=list)
    extras: list[MemberExtras] = field(default_factory=list)
    fields: list[MemberFields] = field(default_factory=list)
    known: list[MemberKnown] = field(default_factory=list)


# Every table whose rows belong to one shopper, erased with it (children before parents).
_SHOPPER_ROWS: list[tuple[str, Any]] = [
    ("satisfaction_responses", SatisfactionResponse),
    ("internal_notes", InternalNote),
    ("support_tickets", SupportTicket),
    ("conversation_messages", ConversationMessage),
    ("faq_interactions", FaqInteraction),
    ("delivery_conversions", Conversion),
    ("deliveries", Delivery),
    ("delivery_flows", Flow),
    ("follow_events", FollowEvent),
]


# -- member state --------------------------------------------------------------------------


def member_state(
    session: Session,
    member_id: str,
    extras: Sequence[MemberExtras],
    fields: Sequence[MemberFields] = (),
    known: Sequence[MemberKnown] = (),
) -> dict[str, Any] | None:
    """What the shop may know about a member's LINE side, with the fields `extras` and
    `fields` add; None if never linked and unknown to every `known`."""
    shopper = member_shopper(session, member_id)
    if shopper is None:
        if not _has_history(session, member_id) and not any(k(session, member_id) for k in known):
            return None
        state: dict[str, Any] = {
            "member_id": member_id,
            "linked": False,
            "line_user_id": None,
            "linked_at": None,
            "follow_state": None,
            "marketing_opt_in": None,
            "consent_changed_at": None,
        }
        for add in fields:
            state.update(add(session, member_id))
        return state
    state = {
        "member_id": member_id,
        "linked": True,
        "line_user_id": shopper.line_user_id,
        "linked_at": _iso(shopper.linked_at),
        "follow_state": shopper.follow_state.value,
        "marketing_opt_in": shopper.marketing_opt_in,
        "consent_changed_at": _iso(shopper.opt_in_changed_at),
    }
    for extra in extras:
        state.update(extra(session, shopper))
    for add in fields:
        state.update(add(session, member_id))
    return state


def _has_history(session: Session, member_id: str) -> bool:
    about_member = select(LinkHistory.id).where(
        or_(LinkHistory.member_id == member_id, LinkHistory.previous_member_id == member_id)
    )
    return session.scalars(about_member.limit(1)).first() is not None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


# -- erasure -------------------------------------------------------------------------------


ERASED_PREFIX = "erased:"


def tombstone(identifier: str, key: bytes) -> str:
    """What an erased member or LINE user id becomes in the link history.

    A keyed hash: the rows of one erased person still read as one sequence (linked, moved,
    unlinked) and still count, but nobody holding only the database can test a guessed id
    against them, as they could against a plain hash of a short member number.
    """
    digest = hmac.new(key, b"erased-id\x00" + identifier.encode(), hashlib.sha256).hexdigest()
    return ERASED_PREFIX + digest[:32]


def erase_member(
    session: Session, member_id: str, now: datetime, key: bytes, erasers: Sequence[Eraser]
) -> dict[str, int] | None:
    """Erase everything personal about a member and every LINE user linked to it, now or
    before; keep anonymous counts. `key` keys the tombstones left in the link history;
    `erasers` delete what other features store about the member first.

    A LINE user once linked to the member but now linked to another member is that member's
    now and is kept; only the link history stops naming this member. Returns the rows erased
    or anonymised per kind, or None if nothing is or was stored about the member.
    """
    line_user_ids = _line_users_to_erase(session, member_id)
    counts: dict[str, int] = {}

    def add(name: str, rows: int) -> None:
        counts[name] = counts.get(name, 0) + rows

    # The shop may have sent events about a member who never linked: features know them too.
    for eraser in erasers:
        for name, rows in eraser(session, member_id, line_user_ids).items():
            add(name, rows)
    if not line_user_ids and not any(counts.values()) and not _has_history(session, member_id):
        return None  # nothing is or was stored about this member

    for line_user_id in line_user_ids:
        for name, rows in _erase_line_user(session, line_user_id).items():
            add(name, rows)
    add("link_history_anonymised", _anonymise_history(session, member_id, line_user_ids, key))
    add("link_nonces", _rows(session, delete(LinkNonce).where(LinkNonce.member_id == member_id)))
    # Stored API responses and paths may quote the member or LINE user id.
    for ident in [member_id, *line_user_ids]:
        pattern = "%" + _like_escape(ident) + "%"
        add(
            "idempotency_records",
            _rows(
                session,
                delete(IdempotencyRecord).where(
                    or_(
                        IdempotencyRecord.path.like(pattern, escape="\\"),
                        IdempotencyRecord.response_body.like(pattern, escape="\\"),
                    )
                ),
            ),
        )
    session.flush()
    session.expire_all()  # bulk statements above bypassed the identity map
    add("members_erased", 1)
    _bump_counts(session, counts, now)
    return counts


def _line_users_to_erase(session: Session, member_id: str) -> list[str]:
    """The LINE users linked to the member now or in the past (from the link history),
    except those linked to another member since."""
    found: set[str] = set()
    current = member_shopper(session, member_id)
    if current is not None:
        found.add(current.line_user_id)
    rows = session.execute(
        select(
            LinkHistory.member_id,
            LinkHistory.line_user_id,
            LinkHistory.previous_member_id,
            LinkHistory.previous_line_user_id,
        ).where(
            or_(LinkHistory.member_id == member_id, LinkHistory.previous_member_id == member_id)
        )
    ).all()
    for member, line_user, previous_member, previous_line_user in rows:
        if member == member_id:
            found.add(line_user)  # linked to (or unlinked from) this member
            if previous_line_user:
                found.add(previous_line_user)  # had this member before a move
        elif previous_member == member_id:
            found.add(line_user)  # moved from this member to another
    found.discard("")
    kept = session.scalars(
        select(Shopper.line_user_id).where(
            Shopper.line_user_id.in_(found),
            Shopper.member_id.is_not(None),
            Shopper.member_id != member_id,
        )
    ).all()
    return sorted(found - set(kept) - {u for u in found if u.startswith(ERASED_PREFIX)})


def _erase_line_user(session: Session, line_user_id: str) -> dict[str, int]:
    """Delete the LINE user's shopper record and everything tied to it; empty the content of
    its webhook events (the bare event id stays so a LINE redelivery is still a duplicate)."""
    counts: dict[str, int] = {}
    shopper = session.scalars(select(Shopper).where(Shopper.line_user_id == line_user_id)).first()
    if shopper is not None:
        # Children first, by shopper id: the foreign keys would cascade, but counting each
        # kind is what leaves the anonymous totals.
        for name, model in _SHOPPER_ROWS:
            counts[name] = _rows(session, delete(model).where(model.shopper_id == shopper.id))
        counts["delivery_clicks_anonymised"] = _rows(
            session, update(Click).where(Click.shopper_id == shopper.id).values(shopper_id=None)
        )
        counts["shoppers"] = _rows(session, delete(Shopper).where(Shopper.id == shopper.id))
    counts["webhook_events"] = _rows(
        session,
        update(WebhookEvent)
        .where(WebhookEvent.line_user_id == line_user_id)
        .values(payload=None, line_user_id=None, error=None),
    )
    counts["link_nonces"] = _rows(
        session, delete(LinkNonce).where(LinkNonce.line_user_id == line_user_id)
    )
    counts["issued_link_tokens"] = _rows(
        session, delete(IssuedLinkToken).where(IssuedLinkToken.line_user_id == line_user_id)
    )
    return counts


def _anonymise_history(
    session: Session, member_id: str, line_user_ids: list[str], key: bytes
) -> int:
    """Replace the erased ids in the link history with their tombstones; rows touched."""
    columns = [
        (LinkHistory.member_id, member_id),
        (LinkHistory.previous_member_id, member_id),
        *((LinkHistory.line_user_id, u) for u in line_user_ids),
        *((LinkHistory.previous_line_user_id, u) for u in line_user_ids),
    ]
    touched = set(
        session.scalars(
            select(LinkHistory.id).where(or_(*(column == value for column, value in columns)))
        ).all()
    )
    for column, value in columns:
        _rows(
            session,
            update(LinkHistory).where(column == value).values({column.key: tombstone(value, key)}),
        )
    return len(touched)


def erasure_counts(session: Session) -> dict[str, int]:
    """The anonymous running totals of erased rows."""
    return {row.name: row.count for row in session.scalars(select(ErasureCount))}


def _bump_counts(session: Session, counts: dict[str, int], now: datetime) -> None:
    for name, rows in counts.items():
        row = session.get(ErasureCount, name, with_for_update=True)
        if row is None:
            session.add(ErasureCount(name=name, count=rows, updated_at=now))
        else:
            row.count += rows
            row.updated_at = now
    session.flush()


def _rows(session: Session, statement: Any) -> int:
    # Bulk statements leave loaded objects stale; erase_member expires them all at the end.
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
