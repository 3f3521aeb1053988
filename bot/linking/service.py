"""Member linking (ID連携): link tokens, nonces, link and unlink.

What the shop may read about a member, and erasure, are `bot.linking.members`.

One LINE user is linked to at most one shop member and a member to at most one LINE user;
linking either side to someone new moves the link and records the move in the history.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.core import signals
from bot.models import (
    IssuedLinkToken,
    LinkAction,
    LinkHistory,
    LinkNonce,
    LinkSource,
    Shopper,
)
from bot.shoppers.service import get_or_create_shopper

# The one member-id grammar of every route, event field and schema: 1-128 printable ASCII
# characters, no spaces. Full-width characters and spaces are refused rather than normalised:
# 「１」 and "1" look the same to staff but would be two members, and an id the URL, the logs
# and the stored API responses all spell one way is one that erasure can find.
_MEMBER_ID_BODY = "[!-~]{1,128}"
MEMBER_ID_MAX = 128
# For JSON Schema (ECMA-262, where `$` matches only at the very end); in Python use
# `is_member_id`, since Python's `$` also matches before a final newline.
MEMBER_ID_PATTERN = f"^{_MEMBER_ID_BODY}$"
MEMBER_ID_WHAT = "1-128 printable ASCII characters without spaces"
LINE_USER_ID_PATTERN = r"^U[0-9a-f]{32}$"
LINK_TOKEN_PATTERN = r"^[A-Za-z0-9_\-]{1,255}$"
NONCE_TTL = timedelta(minutes=10)
# LINE link tokens are valid for 10 minutes after issue.
LINK_TOKEN_TTL = timedelta(minutes=10)

_MEMBER_ID = re.compile(rf"\A{_MEMBER_ID_BODY}\Z")


class LinkError(Exception):
    """A linking step was refused; `code` is machine-readable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_member_id(value: object) -> bool:
    """1-128 printable ASCII characters, no spaces, nothing after them (not even a newline)."""
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
