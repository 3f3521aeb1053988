"""Shopper records: follow state, profile and marketing consent."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.core import signals
from bot.line.gateway import Profile
from bot.models import FollowEvent, FollowState, Shopper


def find_shopper(session: Session, line_user_id: str) -> Shopper | None:
    """The shopper with this LINE user id, if known."""
    return session.scalars(select(Shopper).where(Shopper.line_user_id == line_user_id)).first()


def get_or_create_shopper(session: Session, line_user_id: str, now: datetime) -> Shopper:
    """The shopper for a LINE user, created (as following) on first contact.

    Safe against a concurrent first contact: LINE Login's add-friend option sends the follow
    webhook and the shop's link call at the same moment, and both create the shopper. The
    INSERT … ON CONFLICT DO NOTHING waits for the other transaction and then yields to its
    row instead of failing on the unique key.
    """
    shopper = find_shopper(session, line_user_id)
    if shopper is not None:
        return shopper
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(Shopper)
        .values(
            line_user_id=line_user_id,
            follow_state=FollowState.FOLLOWING,
            followed_at=now,
            follow_count=0,
            marketing_opt_in=True,
            opt_in_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["line_user_id"])
    )
    shopper = find_shopper(session, line_user_id)
    if shopper is None:  # cannot happen: the row is ours or a committed one
        raise LookupError(f"shopper {line_user_id} vanished while being created")
    return shopper


class FollowChange(NamedTuple):
    """The shopper a follow or unfollow event is about, and whether it changed the state."""

    shopper: Shopper
    applied: bool  # False: a newer follow or unfollow was applied already


def _is_stale(shopper: Shopper, at: datetime) -> bool:
    # LINE may redeliver an event long after newer ones were handled: the event's own time,
    # not the order of handling, says which state is current.
    return shopper.follow_changed_at is not None and at < shopper.follow_changed_at


def _remember(session: Session, shopper: Shopper, following: bool, at: datetime) -> None:
    """Add the follow or block to the shopper's history (stale ones too: it happened); the
    same event twice is one row."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(FollowEvent)
        .values(shopper_id=shopper.id, following=following, at=at)
        .on_conflict_do_nothing(index_elements=["shopper_id", "at", "following"])
    )


def record_follow(
    session: Session, line_user_id: str, now: datetime, at: datetime | None = None
) -> FollowChange:
    """Mark the shopper as following (a first follow, or a return after blocking).

    `at` is when the follow happened (the event's timestamp); a follow older than the last
    follow or unfollow applied changes nothing.
    """
    at = at or now
    shopper = get_or_create_shopper(session, line_user_id, now)
    _remember(session, shopper, True, at)
    if _is_stale(shopper, at):
        return FollowChange(shopper, False)
    shopper.follow_state = FollowState.FOLLOWING
    shopper.followed_at = at
    shopper.blocked_at = None
    shopper.follow_changed_at = at
    shopper.follow_count += 1
    shopper.updated_at = now
    signals.shopper_followed.send(None, session=session, shopper=shopper, now=now)
    return FollowChange(shopper, True)


def record_unfollow(
    session: Session, line_user_id: str, now: datetime, at: datetime | None = None
) -> FollowChange:
    """Mark the shopper as having blocked the account; nothing more is pushed to them.

    `at` is when the unfollow happened; one older than the last follow or unfollow applied
    changes nothing.
    """
    at = at or now
    shopper = get_or_create_shopper(session, line_user_id, now)
    _remember(session, shopper, False, at)
    if _is_stale(shopper, at):
        return FollowChange(shopper, False)
    shopper.follow_state = FollowState.BLOCKED
    shopper.blocked_at = at
    shopper.follow_changed_at = at
    shopper.updated_at = now
    signals.shopper_unfollowed.send(None, session=session, shopper=shopper, now=now)
    return FollowChange(shopper, True)


def apply_profile(shopper: Shopper, profile: Profile, now: datetime) -> None:
    """Copy the LINE profile fields we keep onto the shopper."""
    shopper.display_name = profile.display_name
    shopper.picture_url = profile.picture_url
    shopper.language = profile.language
    shopper.updated_at = now


def set_marketing_opt_in(session: Session, shopper: Shopper, opt_in: bool, now: datetime) -> bool:
    """Change marketing consent; returns True if it changed."""
    if shopper.marketing_opt_in == opt_in:
        return False
    shopper.marketing_opt_in = opt_in
    shopper.opt_in_changed_at = now
    shopper.updated_at = now
    signals.marketing_consent_changed.send(
        None, session=session, shopper=shopper, now=now, opt_in=opt_in
    )
    return True
