"""Wires the step-delivery engine into the app: its rules at start-up, domain-signal receivers.

The scenario file is read and checked once, by `init_app`, and kept on the app's services
(`Services.delivery_rules`), where jobs, handlers and the shop API find it.

Receivers run inside the sender's transaction (a webhook job, a shop API request) and never
commit; they stop flows on unfollow/opt-out and start kept flows when a member links.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, has_app_context
from sqlalchemy.orm import Session

from bot import consents
from bot.core import signals
from bot.core.services import Services, current_services
from bot.core.settings import Settings
from bot.delivery import engine as deliveries
from bot.delivery import events as shop_events
from bot.delivery import recipients
from bot.delivery.events import DeliveryRules
from bot.delivery.scenarios import load_scenarios
from bot.models import Shopper

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Load and validate the scenario file (fails start-up with a clear error) and connect."""
    services: Services = app.extensions["bot"]
    services.delivery_rules = load_rules(services.settings)
    connect_signals()


def load_rules(settings: Settings) -> DeliveryRules:
    """The scenario file, read and checked (ScenarioError names the file and the field)."""
    # The abandoned-cart question rides the engine as a built-in scenario (imported here:
    # the survey module's job reads these rules through this module).
    from bot.delivery.survey import with_survey

    book = with_survey(load_scenarios(settings.scenarios_path, settings.templates_path))
    return DeliveryRules(book, timedelta(hours=settings.abandonment_cooldown_hours))


def delivery_rules(services: Services | None = None) -> DeliveryRules:
    """The rules loaded at start-up (default: the current app's)."""
    rules = (services or current_services()).delivery_rules
    if rules is None:
        raise RuntimeError("delivery rules not loaded: bot.delivery.receivers.init_app not called")
    return rules


def connect_signals() -> None:
    """Connect the receivers (blinker ignores a receiver connected twice)."""
    signals.shopper_unfollowed.connect(on_unfollowed)
    signals.marketing_consent_changed.connect(on_consent_changed)
    signals.member_linked.connect(on_member_linked)
    signals.shopper_followed.connect(on_followed)
    signals.member_unlinked.connect(on_member_unlinked)


def _off_line(session: Session, shopper: Shopper) -> list[str]:
    """The scenarios whose flows go on when LINE stops: those that may go by e-mail or SMS,
    if the shop gave the member's e-mail or phone (else none: LINE was all there was)."""
    member = shopper.member_id or shopper.contact_member_id
    if not has_app_context() or member is None:
        return []
    contact = consents.contact_of(session, member)
    if contact is None or (contact.email is None and contact.phone is None):
        return []
    return delivery_rules().book.off_line_ids()


def on_unfollowed(
    _sender: Any, *, session: Session, shopper: Shopper, now: datetime, **_: Any
) -> None:
    """Blocked: nothing more is sent on LINE, marketing or not (flows that may go by e-mail
    or SMS go on there)."""
    count = deliveries.stop_all(
        session, shopper, "unfollowed", now, keep=_off_line(session, shopper)
    )
    log.info("flows stopped on unfollow", extra={"shopper_id": shopper.id, "cancelled": count})


def on_consent_changed(
    _sender: Any, *, session: Session, shopper: Shopper, now: datetime, opt_in: bool, **_: Any
) -> None:
    """「配信停止」 cancels pending marketing; 「配信再開」 only lets new flows send again."""
    if not opt_in:
        keep = _off_line(session, shopper)
        count = deliveries.stop_marketing(session, shopper, "opted out", now, keep=keep)
        log.info(
            "marketing stopped on opt-out", extra={"shopper_id": shopper.id, "cancelled": count}
        )


def on_member_linked(
    _sender: Any, *, session: Session, shopper: Shopper, now: datetime, **_: Any
) -> None:
    """Start the flows of shop events kept while the member was not linked yet."""
    if not has_app_context():
        return
    # The member's flows kept while known only by e-mail or phone move to the LINE shopper
    # first: their events count as applied, so the replay below does not start them twice.
    recipients.merge_into(session, shopper, now)
    taken = shop_events.replay_for_shopper(session, shopper, delivery_rules(), now)
    if taken:
        log.info(
            "kept shop events applied on link", extra={"shopper_id": shopper.id, "events": taken}
        )


def on_followed(
    _sender: Any, *, session: Session, shopper: Shopper, now: datetime, **_: Any
) -> None:
    """A first follow may make events sent by LINE user id before it applicable."""
    if has_app_context():
        shop_events.replay_for_shopper(session, shopper, delivery_rules(), now)


def on_member_unlinked(
    _sender: Any, *, session: Session, shopper: Shopper, now: datetime, **_: Any
) -> None:
    """Personal messages about the member's carts and orders stop with the link."""
    deliveries.stop_all(session, shopper, "member unlinked", now)
