"""Admin page: LINE webhook events whose handling failed, and a button to handle them again."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bot.console import bp
from bot.console.present import local_time
from bot.console.security import admin_required, current_operator
from bot.core.services import current_services
from bot.line.chats import chat_control_summary
from bot.line.jobs import replay_failed_webhook_events
from bot.line.webhook_events import failed_events

log = logging.getLogger(__name__)

PAGE = 100
ERROR_CHARS = 200  # the first line of the reason is enough to tell failures apart


@bp.get("/admin/webhooks")
@admin_required
def admin_webhooks() -> ResponseReturnValue:
    services = current_services()
    rows = [
        {
            "id": row.id,
            "type": row.event_type,
            "user": row.line_user_id or "",
            "time": local_time(row.received_at, services.settings.tz),
            "error": (row.error or "").splitlines()[0][:ERROR_CHARS] if row.error else "",
        }
        for row in failed_events(services.db.session(), PAGE)
    ]
    control = chat_control_summary(services.db.session())
    return render_template("console/admin_webhooks.html", rows=rows, page=PAGE, control=control)


@bp.post("/admin/webhooks/retry")
@admin_required
def admin_webhooks_retry() -> ResponseReturnValue:
    """Retry one failed event (`event_id`) or all of them (`all=1`)."""
    if request.form.get("all") == "1":
        event_ids = None
    else:
        try:
            event_ids = [int(request.form.get("event_id", ""))]
        except ValueError:
            abort(400, description="再実行するイベントを選んでください。")
    ids = replay_failed_webhook_events(current_services(), event_ids)
    if ids:
        log.info(
            "webhook events retried", extra={"count": len(ids), "admin": current_operator().id}
        )
        flash(f"{len(ids)}件のイベントを再実行キューに入れました。", "info")
    else:
        flash("再実行できる失敗イベントはありませんでした。", "info")
    return redirect(url_for("console.admin_webhooks"), code=303)
