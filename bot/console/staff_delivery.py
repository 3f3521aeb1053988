"""Console pages of test delivery to staff.

Every operator: their own test recipient (show a one-time code to send to the bot, or remove
the registration). Admins: send a scenario step or a template to one or all test recipients,
with sample data or a member's real data, and see who sent what to whom.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from bot.console import web
from bot.console.present import local_time
from bot.console.security import admin_required, current_operator, login_required
from bot.core.services import current_services
from bot.delivery import staff_recipients, staff_sends
from bot.delivery.receivers import delivery_rules
from bot.models import Operator

AUDIT_ROWS = 50
STATES = {
    "sent": "送信済み",
    "duplicate": "送信済み（重複）",
    "failed": "失敗",
    "sending": "送信中",
}


def register(bp: Blueprint) -> None:
    """Add the routes to the console blueprint (endpoints are the function names)."""
    bp.get("/test-recipient")(test_recipient)
    bp.post("/test-recipient/code")(test_recipient_code)
    bp.post("/test-recipient/remove")(test_recipient_remove)
    bp.get("/admin/test-delivery")(admin_test_delivery)
    bp.post("/admin/test-delivery")(admin_test_delivery_send)
    bp.post("/admin/test-delivery/recipients/<int:operator_id>/remove")(admin_test_recipient_remove)


# -- every operator: their own test recipient --------------------------------------------------


def _own_page(code: str | None = None) -> ResponseReturnValue:
    db = web.db_session()
    operator = current_operator()
    recipient = staff_recipients.recipient_of(db, operator.id)
    tz = current_services().settings.tz
    return render_template(
        "console/test_recipient.html",
        recipient=recipient,
        registered_at=local_time(recipient.registered_at, tz) if recipient else None,
        code=staff_recipients.display_code(code) if code else None,
        minutes=int(staff_recipients.CODE_LIFETIME.total_seconds() // 60),
    )


@login_required
def test_recipient() -> ResponseReturnValue:
    return _own_page()


@login_required
def test_recipient_code() -> ResponseReturnValue:
    """Show a new code on the page itself: never in a redirect, a flash or the session."""
    db = web.db_session()
    services = current_services()
    code = staff_recipients.issue_code(
        db, current_operator(), services.settings.secret_key, web.now()
    )
    db.commit()
    return _own_page(code)


@login_required
def test_recipient_remove() -> ResponseReturnValue:
    db = web.db_session()
    if staff_recipients.remove(db, current_operator().id):
        flash("テスト配信の受信先を解除しました。", "info")
    db.commit()
    return redirect(url_for("console.test_recipient"), code=303)


# -- admins: send and audit ------------------------------------------------------------------


@admin_required
def admin_test_delivery() -> ResponseReturnValue:
    services = current_services()
    db = web.db_session()
    tz = services.settings.tz
    names = {ident: name for ident, name in db.execute(select(Operator.id, Operator.name))}
    sends = [
        {
            "time": local_time(row.created_at, tz),
            "by": row.sent_by,
            "to": names.get(row.recipient_id or 0, row.line_user_id),
            "what": (
                f"{row.scenario_id}/{row.step_id}"
                if row.step_id
                else f"テンプレート {row.template}"
            )
            + (f"@{row.variant}" if row.variant else ""),
            "data": f"会員 {row.member_id}" if row.member_id else "見本データ",
            "state": STATES.get(row.state, row.state),
            "error": row.error or "",
        }
        for row in staff_sends.recent_sends(db, AUDIT_ROWS)
    ]
    return render_template(
        "console/admin_test_delivery.html",
        options=staff_sends.options(delivery_rules(services).book, services.templates),
        recipients=staff_recipients.recipients(db, active_only=False),
        sends=sends,
        send_key=secrets.token_urlsafe(16),
        selected=request.args.get("what", ""),
    )


@admin_required
def admin_test_delivery_send() -> ResponseReturnValue:
    services = current_services()
    db = web.db_session()
    form = request.form
    send_key = form.get("send_key", "")
    if not 16 <= len(send_key) <= 64:
        abort(400, description="画面を再読み込みしてからやり直してください。")
    member_id = form.get("member_id", "").strip() if form.get("data") == "member" else ""
    if form.get("data") == "member" and not member_id:
        abort(400, description="会員IDを入力してください。")
    if len(member_id) > 128:
        abort(400, description="会員IDが長すぎます。")
    everyone = staff_recipients.recipients(db)
    to = form.get("to", "all")
    if to == "all":
        targets = everyone
    else:
        operator_id = web.row_id(to, "送信先を選んでください。")
        targets = [r for r in everyone if r.operator_id == operator_id]
    acting = current_operator()
    try:
        choice = staff_sends.parse_option(
            form.get("what", ""), delivery_rules(services).book, services.templates
        )
        message = staff_sends.prepare(db, services.templates, choice, member_id, services.settings)
        outcome = staff_sends.send(
            db,
            services.line,
            choice,
            message,
            targets,
            member_id=member_id or None,
            sent_by=acting.email,
            sender_id=acting.id,
            send_key=send_key,
            now=web.now(),
        )
    except staff_sends.StaffSendError as exc:
        db.rollback()
        flash(str(exc), "error")
        return redirect(url_for("console.admin_test_delivery"), code=303)
    db.commit()
    for report in outcome.sent:
        name = report.recipient.operator_name
        if report.state == "duplicate":
            flash(f"{name}さんへは送信済みです（同じ送信は二度届きません）。", "info")
        else:
            flash(f"{name}さんに{choice.label}を送信しました。", "info")
    for report in outcome.failed:
        flash(
            f"{report.recipient.operator_name}さんへの送信に失敗しました: {report.error}", "error"
        )
    return redirect(url_for("console.admin_test_delivery", what=form.get("what", "")), code=303)


@admin_required
def admin_test_recipient_remove(operator_id: int) -> ResponseReturnValue:
    db = web.db_session()
    person = web.get_or_404(Operator, operator_id, "スタッフが見つかりません。")
    if staff_recipients.remove(db, person.id):
        flash(f"{person.name}さんのテスト配信の受信先を解除しました。", "info")
    db.commit()
    return redirect(url_for("console.admin_test_delivery"), code=303)
