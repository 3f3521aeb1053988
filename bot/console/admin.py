"""Console admin pages: staff accounts, canned replies, the business-hours override, and LINE
webhook events whose handling failed (with a button to handle them again). `register` also
adds the test-delivery pages (`staff_delivery`)."""

from __future__ import annotations

import logging
from datetime import time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from bot.console import operators as ops
from bot.console import staff_delivery, web
from bot.console.present import local_time, satisfaction_view
from bot.console.security import admin_required, current_operator
from bot.core.services import current_services
from bot.core.settings import BusinessHours
from bot.line.chats import chat_control_summary
from bot.line.jobs import replay_failed_webhook_events
from bot.line.webhook_events import failed_events
from bot.models import CannedReply, Operator, OperatorRole
from bot.support import hours, notes, satisfaction
from bot.support.errors import TicketError

log = logging.getLogger(__name__)

WEEKDAYS = ("月", "火", "水", "木", "金", "土", "日")
FAILED_EVENTS_PAGE = 100  # failed webhook events listed
ERROR_CHARS = 200  # the first line of the reason is enough to tell failures apart


def register(bp: Blueprint) -> None:
    """Add the admin routes to the console blueprint (endpoints are the function names)."""
    bp.get("/admin/operators")(admin_operators)
    bp.post("/admin/operators")(admin_operator_create)
    bp.post("/admin/operators/<int:operator_id>")(admin_operator_update)
    bp.post("/admin/operators/<int:operator_id>/password")(admin_operator_password)
    bp.get("/admin/canned")(admin_canned)
    # The same order as stacked decorators would give: the rule with the id first.
    bp.post("/admin/canned/<int:reply_id>")(admin_canned_save)
    bp.post("/admin/canned")(admin_canned_save)
    bp.post("/admin/canned/<int:reply_id>/delete")(admin_canned_delete)
    bp.get("/admin/hours")(admin_hours)
    bp.post("/admin/hours")(admin_hours_save)
    bp.get("/admin/webhooks")(admin_webhooks)
    bp.post("/admin/webhooks/retry")(admin_webhooks_retry)
    staff_delivery.register(bp)


# -- admin: operators ------------------------------------------------------------------------


@admin_required
def admin_operators() -> ResponseReturnValue:
    db = web.db_session()
    since = web.now() - timedelta(days=30)
    people = ops.all_operators(db)
    stats = {
        o.id: satisfaction_view(satisfaction.satisfaction_stats(db, o.id, since)) for o in people
    }
    return render_template("console/admin_operators.html", people=people, stats=stats)


def _role(value: str) -> OperatorRole:
    try:
        return OperatorRole(value)
    except ValueError:
        abort(400, description="権限は operator か admin を選んでください。")


@admin_required
def admin_operator_create() -> ResponseReturnValue:
    db = web.db_session()
    form = request.form
    try:
        ops.create_operator(
            db,
            form.get("email", ""),
            form.get("name", ""),
            form.get("password", ""),
            _role(form.get("role", "operator")),
            web.now(),
            hash_method=web.password_hash_method(),
        )
    except ops.OperatorError as exc:
        _refused(db, exc)
    else:
        _saved(db, "スタッフを追加しました。")
    return redirect(url_for("console.admin_operators"), code=303)


@admin_required
def admin_operator_update(operator_id: int) -> ResponseReturnValue:
    db = web.db_session()
    person = web.get_or_404(Operator, operator_id, "スタッフが見つかりません。")
    acting = current_operator()
    try:
        if "role" in request.form:
            ops.set_role(db, person, _role(request.form["role"]), acting)
        if "active" in request.form:
            ops.set_active(db, person, request.form["active"] == "1", acting)
    except ops.OperatorError as exc:
        _refused(db, exc)
    else:
        _saved(db, f"{person.name}さんの設定を変更しました。")
    return redirect(url_for("console.admin_operators"), code=303)


@admin_required
def admin_operator_password(operator_id: int) -> ResponseReturnValue:
    db = web.db_session()
    person = web.get_or_404(Operator, operator_id, "スタッフが見つかりません。")
    acting = current_operator()
    try:
        ops.reset_password(
            db,
            person,
            request.form.get("password", ""),
            acting,
            hash_method=web.password_hash_method(),
        )
    except ops.OperatorError as exc:
        _refused(db, exc)
    else:
        _saved(
            db,
            f"{person.name}さんのパスワードを再設定しました。"
            "次回ログイン時に新しいパスワードの設定が必要です。",
        )
        log.info("operator password reset", extra={"operator": person.id, "admin": acting.id})
    return redirect(url_for("console.admin_operators"), code=303)


def _refused(db: Session, exc: Exception) -> None:
    """Undo the attempted change and show the reason (domain errors carry Japanese text)."""
    db.rollback()
    flash(str(exc), "error")


def _saved(db: Session, message: str) -> None:
    """Keep the change and confirm it."""
    db.commit()
    flash(message, "info")


# -- admin: canned replies --------------------------------------------------------------------


@admin_required
def admin_canned() -> ResponseReturnValue:
    return render_template(
        "console/admin_canned.html", replies=notes.canned_replies(web.db_session())
    )


@admin_required
def admin_canned_save(reply_id: int | None = None) -> ResponseReturnValue:
    db = web.db_session()
    existing = None
    if reply_id is not None:
        existing = web.get_or_404(CannedReply, reply_id, "定型文が見つかりません。")
    try:
        notes.save_canned_reply(
            db, existing, request.form.get("title", ""), request.form.get("body", ""), web.now()
        )
    except TicketError as exc:
        _refused(db, exc)
    else:
        _saved(db, "定型文を保存しました。")
    return redirect(url_for("console.admin_canned"), code=303)


@admin_required
def admin_canned_delete(reply_id: int) -> ResponseReturnValue:
    db = web.db_session()
    existing = web.get_or_404(CannedReply, reply_id, "定型文が見つかりません。")
    db.delete(existing)
    _saved(db, "定型文を削除しました。")
    return redirect(url_for("console.admin_canned"), code=303)


# -- admin: business hours --------------------------------------------------------------------


@admin_required
def admin_hours() -> ResponseReturnValue:
    db = web.db_session()
    settings = current_services().settings
    in_force = hours.current_business_hours(db, settings)
    return render_template(
        "console/admin_hours.html",
        hours=in_force,
        weekdays=WEEKDAYS,
        overridden=hours.business_hours_override(db) is not None,
        effective=hours.describe_hours(in_force),
        default=hours.describe_hours(settings.business_hours),
    )


@admin_required
def admin_hours_save() -> ResponseReturnValue:
    db = web.db_session()
    form = request.form
    if form.get("reset") == "1":
        hours.set_business_hours(db, None, current_operator().id, web.now())
        db.commit()
        flash("営業時間を初期設定に戻しました。", "info")
        return redirect(url_for("console.admin_hours"), code=303)
    try:
        days = frozenset(int(day) for day in form.getlist("weekday"))
        start = time.fromisoformat(form.get("start", ""))
        end = time.fromisoformat(form.get("end", ""))
    except ValueError:
        abort(400, description="曜日と時刻（HH:MM）を正しく入力してください。")
    if not days <= set(range(7)):
        abort(400, description="曜日の指定が正しくありません。")
    try:
        hours.set_business_hours(
            db,
            BusinessHours(days, start.replace(second=0), end.replace(second=0)),
            current_operator().id,
            web.now(),
        )
    except TicketError as exc:
        flash(str(exc), "error")
    else:
        db.commit()
        flash("営業時間を保存しました。", "info")
    return redirect(url_for("console.admin_hours"), code=303)


# -- admin: failed webhook events ------------------------------------------------------------


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
        for row in failed_events(services.db.session(), FAILED_EVENTS_PAGE)
    ]
    control = chat_control_summary(services.db.session())
    return render_template(
        "console/admin_webhooks.html", rows=rows, page=FAILED_EVENTS_PAGE, control=control
    )


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
