"""Member linking (ID連携): link tokens, nonces, link/unlink, member state and erasure.

One LINE user is linked to at most one shop member and a member to at most one LINE user;
linking either side to someone new moves the link and records the move in the history.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from bot import signals
from bot.models import (
    ConversationMessage,
    ErasureCount,
    IdempotencyRecord,
    IssuedLinkToken,
    LinkAction,
    LinkHistory,
    LinkNonce,
    LinkSource,
    Shopper,
    SupportTicket,
    WebhookEvent,
)
from bot.services.shoppers import get_or_create_shopper

MEMBER_ID_PATTERN = r"^[\x21-\x7e]{1,128}$"
LINE_USER_ID_PATTERN = r"^U[0-9a-f]{32}$"
LINK_TOKEN_PATTERN = r"^[A-Za-z0-9_\-]{1,255}$"
NONCE_TTL = timedelta(minutes=10)
# LINE link tokens are valid for 10 minutes after issue.
LINK_TOKEN_TTL = timedelta(minutes=10)

_MEMBER_ID = re.compile(MEMBER_ID_PATTERN)

Eraser = Callable[[Session, str, Shopper | None], dict[str, int]]
MemberExtras = Callable[[Session, Shopper], dict[str, Any]]

_ERASERS: list[Eraser] = []
_MEMBER_EXTRAS: list[MemberExtras] = []


class LinkError(Exception):
    """A linking step was refused; `code` is machine-readable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_member_id(value: object) -> bool:
    """1-128 printable ASCII characters, no spaces."""
    return isinstance(value, str) and _MEMBER_ID.match(value) is not None


def mask_member_id(member_id: str) -> str:
    """Show only the last three characters: 「****123」."""
    return "****" + member_id[-3:]


# -- link tokens and nonces ---------------------------------------------------------------


def record_link_token(
    session: Session, line_user_id: str, link_token: str, now: datetime
) -> IssuedLinkToken:
    """Remember which LINE user a link token was issued for (the accountLink event omits it)."""
    issued = IssuedLinkToken(link_token=link_token, line_user_id=line_user_id, issued_at=now)
    session.add(issued)
    session.flush()
    return issued


def create_nonce(session: Session, member_id: str, link_token: str, now: datetime) -> LinkNonce:
    """A fresh single-use nonce binding `member_id` to a link token the bot issued."""
    issued = session.scalars(
        select(IssuedLinkToken).where(IssuedLinkToken.link_token == link_token)
    ).first()
    if issued is None:
        raise LinkError("unknown_link_token", "link_token was not issued by this bot")
    if issued.used_at is not None:
        raise LinkError("link_token_used", "link_token has already been used")
    if issued.issued_at + LINK_TOKEN_TTL <= now:
        raise LinkError("link_token_expired", "link_token has expired; ask the shopper again")
    nonce = LinkNonce(
        nonce=secrets.token_urlsafe(32),  # 256 bits
        member_id=member_id,
        link_token=link_token,
        line_user_id=issued.line_user_id,
        created_at=now,
        expires_at=now + NONCE_TTL,
    )
    session.add(nonce)
    session.flush()
    return nonce


def consume_nonce(session: Session, nonce: str, line_user_id: str, now: datetime) -> LinkNonce:
    """Use a nonce from an accountLink event once; LinkError if unknown, used, expired or
    made for another LINE user's link token."""
    found = session.scalars(
        select(LinkNonce).where(LinkNonce.nonce == nonce).with_for_update()
    ).first()
    if found is None:
        raise LinkError("unknown_nonce", "the nonce is unknown")
    if found.used_at is not None:
        raise LinkError("nonce_used", "the nonce has already been used")
    if found.expires_at <= now:
        raise LinkError("nonce_expired", "the nonce has expired")
    if found.line_user_id != line_user_id:
        raise LinkError("nonce_user_mismatch", "the nonce was made for another LINE user")
    found.used_at = now
    # Every nonce of the same link token dies with it: LINE uses a link token only once.
    session.execute(
        update(LinkNonce)
        .where(LinkNonce.link_token == found.link_token, LinkNonce.used_at.is_(None))
        .values(used_at=now)
    )
    session.execute(
        update(IssuedLinkToken)
        .where(IssuedLinkToken.link_token == found.link_token)
        .values(used_at=now)
    )
    return found


def purge_expired(session: Session, now: datetime) -> int:
    """Delete nonces and link tokens past any possible use; returns how many rows."""
    nonces = session.execute(delete(LinkNonce).where(LinkNonce.expires_at <= now - NONCE_TTL))
    tokens = session.execute(
        delete(IssuedLinkToken).where(IssuedLinkToken.issued_at <= now - 2 * LINK_TOKEN_TTL)
    )
    return int(getattr(nonces, "rowcount", 0) or 0) + int(getattr(tokens, "rowcount", 0) or 0)


# -- link and unlink ----------------------------------------------------------------------


@dataclass(frozen=True)
class LinkOutcome:
    """What `link_member` did."""

    shopper: Shopper
    created: bool  # False: this exact link already existed
    previous_member_id: str | None  # the member this LINE user was linked to before
    displaced: Shopper | None  # the LINE user this member was linked to before
    history_id: int | None
    displaced_history_id: int | None


def link_member(
    session: Session, member_id: str, line_user_id: str, now: datetime, source: LinkSource
) -> LinkOutcome:
    """Link a member to a LINE user, moving either side's old link; idempotent."""
    shopper = get_or_create_shopper(session, line_user_id, now)
    if shopper.member_id == member_id:
        return LinkOutcome(shopper, False, None, None, None, None)

    displaced = member_shopper(session, member_id)
    displaced_history_id = None
    if displaced is not None:
        displaced.member_id = None
        displaced.linked_at = None
        displaced.updated_at = now
        session.flush()  # free the unique member_id before it is given to the new LINE user
        moved = _history(
            session, LinkAction.UNLINKED, source, member_id, displaced.line_user_id, now
        )
        moved.previous_line_user_id = displaced.line_user_id
        displaced_history_id = moved.id
        signals.member_unlinked.send(
            None, session=session, shopper=displaced, now=now, member_id=member_id
        )

    previous_member_id = shopper.member_id
    shopper.member_id = member_id
    shopper.linked_at = now
    shopper.updated_at = now
    session.flush()
    linked = _history(session, LinkAction.LINKED, source, member_id, line_user_id, now)
    linked.previous_member_id = previous_member_id
    linked.previous_line_user_id = displaced.line_user_id if displaced else None
    session.flush()
    signals.member_linked.send(
        None,
        session=session,
        shopper=shopper,
        now=now,
        member_id=member_id,
        previous_member_id=previous_member_id,
    )
    return LinkOutcome(
        shopper, True, previous_member_id, displaced, linked.id, displaced_history_id
    )


def unlink_shopper(
    session: Session, shopper: Shopper, now: datetime, source: LinkSource
) -> LinkHistory | None:
    """Remove the shopper's link; None if there was none."""
    member_id = shopper.member_id
    if member_id is None:
        return None
    shopper.member_id = None
    shopper.linked_at = None
    shopper.updated_at = now
    entry = _history(session, LinkAction.UNLINKED, source, member_id, shopper.line_user_id, now)
    signals.member_unlinked.send(
        None, session=session, shopper=shopper, now=now, member_id=member_id
    )
    return entry


def member_shopper(session: Session, member_id: str) -> Shopper | None:
    """The shopper linked to a member, if any."""
    return session.scalars(select(Shopper).where(Shopper.member_id == member_id)).first()


def history_entry(session: Session, history_id: int) -> LinkHistory | None:
    """One link history row."""
    return session.get(LinkHistory, history_id)


def _history(
    session: Session,
    action: LinkAction,
    source: LinkSource,
    member_id: str,
    line_user_id: str,
    now: datetime,
) -> LinkHistory:
    entry = LinkHistory(
        action=action,
        source=source,
        member_id=member_id,
        line_user_id=line_user_id,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


# -- member state --------------------------------------------------------------------------


def register_member_extras(func: MemberExtras) -> MemberExtras:
    """Add fields to GET /members/{id} (e.g. the delivery engine's pending deliveries)."""
    _MEMBER_EXTRAS.append(func)
    return func


def member_state(session: Session, member_id: str) -> dict[str, Any] | None:
    """What the shop may know about a member's LINE side; None if never linked."""
    shopper = member_shopper(session, member_id)
    if shopper is None:
        if not _has_history(session, member_id):
            return None
        return {
            "member_id": member_id,
            "linked": False,
            "line_user_id": None,
            "linked_at": None,
            "follow_state": None,
            "marketing_opt_in": None,
            "consent_changed_at": None,
        }
    state: dict[str, Any] = {
        "member_id": member_id,
        "linked": True,
        "line_user_id": shopper.line_user_id,
        "linked_at": _iso(shopper.linked_at),
        "follow_state": shopper.follow_state.value,
        "marketing_opt_in": shopper.marketing_opt_in,
        "consent_changed_at": _iso(shopper.opt_in_changed_at),
    }
    for extra in _MEMBER_EXTRAS:
        state.update(extra(session, shopper))
    return state


def _has_history(session: Session, member_id: str) -> bool:
    about_member = select(LinkHistory.id).where(
        or_(LinkHistory.member_id == member_id, LinkHistory.previous_member_id == member_id)
    )
    return session.scalars(about_member.limit(1)).first() is not None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


# -- erasure -------------------------------------------------------------------------------


def register_eraser(func: Eraser) -> Eraser:
    """Add a feature's eraser: delete that feature's rows about the member and its shopper
    (None when the member never linked), return counts per kind."""
    _ERASERS.append(func)
    return func


def erase_member(session: Session, member_id: str, now: datetime) -> dict[str, int] | None:
    """Erase everything personal about a member and its LINE user; keep anonymous counts.

    Returns the rows removed per kind, or None if the member is unknown.
    """
    shopper = member_shopper(session, member_id)
    counts: dict[str, int] = {}

    def add(name: str, rows: int) -> None:
        counts[name] = counts.get(name, 0) + rows

    # The shop may have sent events about a member who never linked: features know them too.
    for eraser in _ERASERS:
        for name, rows in eraser(session, member_id, shopper).items():
            add(name, rows)
    if shopper is None and not any(counts.values()) and not _has_history(session, member_id):
        return None  # nothing is or was stored about this member

    identifiers = [member_id]
    if shopper is not None:
        identifiers.append(shopper.line_user_id)
        add(
            "support_tickets",
            _rows(session, delete(SupportTicket).where(SupportTicket.shopper_id == shopper.id)),
        )
        add(
            "conversation_messages",
            _rows(
                session,
                delete(ConversationMessage).where(ConversationMessage.shopper_id == shopper.id),
            ),
        )
        # The row stays so a redelivered event is still recognised; its content goes.
        add(
            "webhook_events",
            _rows(
                session,
                update(WebhookEvent)
                .where(WebhookEvent.line_user_id == shopper.line_user_id)
                .values(payload=None, line_user_id=None, error=None),
            ),
        )
        add(
            "link_nonces",
            _rows(session, delete(LinkNonce).where(LinkNonce.line_user_id == shopper.line_user_id)),
        )
        add(
            "issued_link_tokens",
            _rows(
                session,
                delete(IssuedLinkToken).where(IssuedLinkToken.line_user_id == shopper.line_user_id),
            ),
        )
    add(
        "link_history",
        _rows(
            session,
            delete(LinkHistory).where(
                or_(
                    LinkHistory.member_id.in_(identifiers),
                    LinkHistory.previous_member_id == member_id,
                    LinkHistory.line_user_id.in_(identifiers),
                    LinkHistory.previous_line_user_id.in_(identifiers),
                )
            ),
        ),
    )
    add("link_nonces", _rows(session, delete(LinkNonce).where(LinkNonce.member_id == member_id)))
    # Stored API responses and paths may quote the member or LINE user id.
    for ident in identifiers:
        pattern = "%" + _like_escape(ident) + "%"
        add(
            "idempotency_records",
            _rows(
                session,
                delete(IdempotencyRecord)
                .where(
                    or_(
                        IdempotencyRecord.path.like(pattern, escape="\\"),
                        IdempotencyRecord.response_body.like(pattern, escape="\\"),
                    )
                )
                .execution_options(synchronize_session=False),
            ),
        )
    if shopper is not None:
        session.delete(shopper)
        add("shoppers", 1)
    session.flush()
    add("members_erased", 1)
    _bump_counts(session, counts, now)
    return counts


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
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
