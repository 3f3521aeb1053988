"""Which channel a delivery goes by: LINE, e-mail or SMS, chosen at send time.

A step lists the channels it may use in order of preference (`channels:` in the scenario
file, default LINE only). The first one the shopper can receive right now wins; the reasons
the earlier ones could not be used are kept on the delivery. Pure functions over what the
batch read (`Reach`): no database, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.models import Shopper

LINE = "line"
EMAIL = "email"
SMS = "sms"
LINE_ONLY = (LINE,)


@dataclass(frozen=True)
class Reach:
    """How a shopper can be reached off LINE, as read for the batch."""

    member_id: str | None = None
    email: str | None = None
    phone: str | None = None
    email_ok: bool = False  # known and not marked undeliverable
    phone_ok: bool = False
    email_consent: bool = False  # marketing consent recorded for the channel
    sms_consent: bool = False


NO_REACH = Reach()


@dataclass(frozen=True)
class Choice:
    """The channel chosen (None: none can be used) and the reason kept on the delivery
    (None when the first preference was used)."""

    channel: str | None
    reason: str | None


def member_of(shopper: Shopper) -> str | None:
    """The shop's member id the shopper stands for (linked, or known only by contact)."""
    return shopper.member_id or shopper.contact_member_id


def unavailable(channel: str, shopper: Shopper, reach: Reach, *, marketing: bool) -> str | None:
    """Why the shopper cannot be reached on this channel now (None: they can)."""
    if channel == LINE:
        if shopper.line_user_id is None:
            return "not_on_line"
        if not shopper.is_following:
            return "not_following"
        if marketing and not shopper.marketing_opt_in:
            return "opted_out"
        return None
    if channel == EMAIL:
        address, ok, consent = reach.email, reach.email_ok, reach.email_consent
    elif channel == SMS:
        address, ok, consent = reach.phone, reach.phone_ok, reach.sms_consent
    else:
        return "unknown_channel"
    if address is None:
        return "no_address"
    if not ok:
        return "undeliverable"
    if marketing and not consent:
        return "no_consent"
    return None


def choose(
    channels: Sequence[str],
    shopper: Shopper,
    reach: Reach,
    *,
    marketing: bool,
    configured: Sequence[str] = (LINE, EMAIL, SMS),
) -> Choice:
    """The first channel of the step's list the shopper can receive, with the reason.

    `configured` are the channels this installation can send by (no SMTP_URL: no e-mail).
    """
    passed: list[str] = []
    for channel in channels:
        why = "not_configured" if channel not in configured else None
        why = why or unavailable(channel, shopper, reach, marketing=marketing)
        if why is None:
            # The first preference needs no explanation (the delivery's channel says it).
            return Choice(channel, f"channel:{channel} ({', '.join(passed)})" if passed else None)
        passed.append(f"{channel}: {why}")
    return Choice(None, f"no channel ({', '.join(passed)})")


def line_verdict(channels: Sequence[str], shopper: Shopper, reach: Reach) -> str | None:
    """When no channel can be used and nothing but LINE was ever possible (no address
    known), the LINE-only verdict: "unfollowed" or "opted out" (as for a LINE-only step)."""
    if LINE not in channels or reach.email is not None or reach.phone is not None:
        return None
    if shopper.line_user_id is not None and not shopper.is_following:
        return "unfollowed"
    if shopper.line_user_id is not None and not shopper.marketing_opt_in:
        return "opted out"
    return None
