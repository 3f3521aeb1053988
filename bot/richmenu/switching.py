"""Each shopper's rich menu follows their link state: linking and unlinking switch it.

The `member_linked` / `member_unlinked` receivers only note the shopper on the session; once
that transaction commits, a job is queued that gives the shopper the menu for their state now
(a per-user link, or none so that the default shows). The link itself never waits for LINE
and never fails because of it: LINE's 429/5xx make the job retry, other errors are logged.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import has_app_context
from rq import Retry
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bot.core import signals
from bot.core.jobs import job_context
from bot.core.services import current_services
from bot.line.gateway import LineError, LineGateway
from bot.models import AppliedRichMenu, Shopper

log = logging.getLogger(__name__)

SWITCH_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
_PENDING = "richmenu_switch_shoppers"


def connect_signals() -> None:
    """Connect the receivers and the after-commit hook (each only once)."""
    signals.member_linked.connect(on_link_changed)
    signals.member_unlinked.connect(on_link_changed)
    if not event.contains(Session, "after_commit", _enqueue_after_commit):
        event.listen(Session, "after_commit", _enqueue_after_commit)
        event.listen(Session, "after_rollback", _forget_after_rollback)


def on_link_changed(_sender: Any, *, session: Session, shopper: Shopper, **_: Any) -> None:
    """Note the shopper; the switch is queued when the transaction commits."""
    if not has_app_context() or session.scalar(select(AppliedRichMenu.name).limit(1)) is None:
        return  # no rich menus applied: nothing to switch
    session.info.setdefault(_PENDING, set()).add(shopper.id)


def _enqueue_after_commit(session: Session) -> None:
    shopper_ids = session.info.pop(_PENDING, None)
    if not shopper_ids or not has_app_context():
        return
    queues = current_services().queues
    for shopper_id in sorted(shopper_ids):
        try:
            queues.default.enqueue(switch_rich_menu, shopper_id, retry=SWITCH_RETRY)
        except Exception:  # the link is committed; a lost switch must not turn it into an error
            log.exception("rich menu switch not queued", extra={"shopper_id": shopper_id})


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def switch_rich_menu(shopper_id: int) -> None:
    """Give the shopper the rich menu for their link state now (job; safe to retry)."""
    with job_context("switch_rich_menu") as services:
        session = services.db.session()
        shopper = session.get(Shopper, shopper_id)
        if shopper is None:
            return  # erased meanwhile
        try:
            try:
                apply_menu_for(session, services.line, shopper)
            except LineError as exc:
                if exc.status != 404:
                    raise
                # The menu read was deleted meanwhile by `flask richmenu apply`, which records
                # the new ids before deleting: read them again once.
                session.rollback()
                apply_menu_for(session, services.line, shopper)
        except LineError as exc:
            if exc.retriable:
                raise
            log.warning(
                "rich menu not switched",
                extra={"shopper_id": shopper_id, "status": exc.status, "error": str(exc)},
            )


def apply_menu_for(session: Session, line: LineGateway, shopper: Shopper) -> str | None:
    """Link the shopper's menu, or unlink theirs when the default is their menu; the id or None."""
    rows = list(session.scalars(select(AppliedRichMenu)))
    if not rows:
        return None
    audience = "linked" if shopper.member_id else "unlinked"
    menu = next((row for row in rows if row.audience == audience), None)
    if menu is None or menu.is_default:
        line.unlink_rich_menu(shopper.line_user_id)
        return None
    line.link_rich_menu(shopper.line_user_id, menu.rich_menu_id)
    return menu.rich_menu_id
