"""Shopper records: follow state, profile and marketing consent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import signals
from bot.line import Profile
from bot.models import FollowState, Shopper


def find_shopper(session: Session, line_user_id: str) -> Shopper | None:
    """The shopper with this LINE user id, if known."""
    return session.scalars(select(Shopper).where(Shopper.line_user_id == line_user_id)).first()


def get_or_create_shopper(session: Session, line_user_id: str, now: datetime) -> Shopper:
    """The shopper for a LINE user, created (as following) on first contact."""
    shopper = find_shopper(session, line_user_id)
    if shopper is None:
        shopper = Shopper(
            line_user_id=line_user_id,
            follow_state=FollowState.FOLLOWING,
            followed_at=now,
            follow_count=0,
            marketing_opt_in=True,
            opt_in_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(shopper)
        session.flush()
    return shopper


def record_follow(session: Session, line_user_id: str, now: datetime) -> Shopper:
    """Mark the shopper as following (a first follow, or a return after blocking)."""
    shopper = get_or_create_shopper(session, line_user_id, now)
    shopper.follow_state = FollowState.FOLLOWING
    shopper.followed_at = now
    shopper.blocked_at = None
    shopper.follow_count += 1
    shopper.updated_at = now
    signals.shopper_followed.send(None, session=session, shopper=shopper, now=now)
    return shopper


def record_unfollow(session: Session, line_user_id: str, now: datetime) -> Shopper:
    """Mark the shopper as having blocked the account; nothing more is pushed to them."""
    shopper = get_or_create_shopper(session, line_user_id, now)
    shopper.follow_state = FollowState.BLOCKED
    shopper.blocked_at = now
    shopper.updated_at = now
    signals.shopper_unfollowed.send(None, session=session, shopper=shopper, now=now)
    return shopper


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
