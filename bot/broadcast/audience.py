"""A broadcast's audience (the friends its segment selects) and the month's quota against it.

The segment is a condition of the scenario file's language, evaluated on the same facts as a
step's `when:` (`bot.delivery.segments.facts`); a shopper whose attribute is unknown is not
selected, as a step is never sent on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.settings import Settings
from bot.delivery.conditions import Condition, evaluate
from bot.delivery.segments import facts
from bot.line.gateway import MessageQuota
from bot.models import FollowState, MemberAttributes, Shopper

READ_CHUNK = 2000  # rows fetched at a time while the segment is evaluated


@dataclass(frozen=True)
class Member:
    """One shopper of the audience: who, and whether marketing may reach them."""

    shopper_id: int
    opted_in: bool


def members(
    session: Session, condition: Condition | None, settings: Settings, now: datetime
) -> list[Member]:
    """Every following shopper the segment selects, in id order."""
    following = Shopper.follow_state == FollowState.FOLLOWING
    if condition is None:
        rows = session.execute(
            select(Shopper.id, Shopper.marketing_opt_in).where(following).order_by(Shopper.id)
        )
        return [Member(shopper_id, bool(opted_in)) for shopper_id, opted_in in rows]
    query = (
        select(Shopper, MemberAttributes)
        .outerjoin(MemberAttributes, MemberAttributes.member_id == Shopper.member_id)
        .where(following)
        .order_by(Shopper.id)
        .execution_options(yield_per=READ_CHUNK)
    )
    found = []
    for shopper, attributes in session.execute(query):
        held, _why = evaluate(condition, facts(shopper, None, attributes, {}, settings, now))
        if held:
            found.append(Member(shopper.id, bool(shopper.marketing_opt_in)))
    return found


@dataclass(frozen=True)
class Audience:
    """How many friends the segment selects, and how many of them marketing may reach."""

    selected: int
    opted_in: int

    @property
    def opted_out(self) -> int:
        return self.selected - self.opted_in


def count(
    session: Session, condition: Condition | None, settings: Settings, now: datetime
) -> Audience:
    """The audience's figures as of now."""
    found = members(session, condition, settings, now)
    return Audience(len(found), sum(1 for m in found if m.opted_in))


@dataclass(frozen=True)
class QuotaCheck:
    """The messages a broadcast will use against what is left of the month's quota.

    LINE counts a push or multicast once per recipient it reaches, whatever the number of
    message objects in it; a broadcast sends one message to each opted-in shopper.
    """

    limit: int | None  # None: the channel has no monthly limit set
    used: int
    needed: int

    @classmethod
    def of(cls, quota: MessageQuota, needed: int) -> QuotaCheck:
        return cls(quota.limit, quota.used, needed)

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def enough(self) -> bool:
        return self.remaining is None or self.needed <= self.remaining

    def refusal(self) -> str | None:
        """Why the broadcast may not start (Japanese), or None."""
        if self.enough:
            return None
        return (
            f"今月の残り送信数（{self.remaining:,}通）より配信対象（{self.needed:,}人）が"
            "多いため、配信できません。配信先を絞るか、来月まで待つか、LINE公式アカウントの"
            "プランを見直してください。"
        )
