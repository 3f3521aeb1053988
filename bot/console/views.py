"""Console pages and the small JSON endpoints the pages poll for live updates."""

from __future__ import annotations

import logging
import uuid
from datetime import time, timedelta
from typing import Any, TypeVar

from flask import (
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from bot.console import bp
from bot.console import operators as ops
from bot.console.present import (
    last_messages,
    local_time,
    member_context,
    message_view,
    operator_names,
    ticket_row,
)
from bot.console.security import (
    add_security_headers,
    admin_required,
    check_csrf,
    csrf_token,
    current_operator,
    enforce_password_change,
    load_operator,
    login_required,
    safe_next,
    start_session,
)
from bot.core.services import current_services
from bot.core.settings import BusinessHours
from bot.line.gateway import LineError
from bot.line.messaging import Messenger
from bot.models import (
    CannedReply,
    ConversationMessage,
    Operator,
    OperatorRole,
    SupportTicket,
    TicketState,
)
from bot.support import tickets as support
from bot.support.hours import describe_hours

log = logging.getLogger(__name__)

TABS = {"waiting": "待機中", "mine": "自分の担当", "open": "対応中すべて", "resolved": "終了"}
WEEKDAYS = ("月", "火", "水", "木", "金", "土", "日")
MESSAGE_PAGE = 300  # the newest messages shown in a chat
MAX_ROW_ID = 2**31 - 1  # ids are PostgreSQL integers: a larger one fails the query itself


@bp.before_request
def _check_parameters() -> None:
    """Refuse, with a reason, values no query can take: before they reach the database."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not 0 <= value <= MAX_ROW_ID:
            abort(404, description="指定されたデータは見つかりません。")
    # PostgreSQL text cannot hold NUL; no field of the console has a use for one.
    for values in (request.args, request.form):
        if any("\x00" in value for value in values.values()):
            abort(400, description="入力に使用できない文字（NUL）が含まれています。")


@bp.before_request
def _before() -> ResponseReturnValue | None:
    load_operator()
    check_csrf()
    return enforce_password_change()


@bp.after_request
def _after(response: Response) -> Response:
    return add_security_headers(response)


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "operator": g.get("operator"),
        "csrf_token": csrf_token,
        "shop_name": current_services().settings.shop_name,
        "min_password_length": ops.MIN_PASSWORD_LENGTH,
    }


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> ResponseReturnValue:
    messages = {
        400: "リクエストが正しくありません。",
        401: "ログインしてください。",
        403: "この操作を行う権限がありません。",
        404: "ページが見つかりません。",
        405: "この操作はできません。",
        409: "状態が変わりました。画面を更新してください。",
        413: "送信内容が大きすぎます。",
    }
    code = error.code or 500
    description = error.description if _is_japanese(error.description) else None
    message = description or messages.get(code, "エラーが発生しました。")
    if request.path.startswith("/console/api/") or request.accept_mimetypes.best == (
        "application/json"
    ):
        return jsonify({"error": message}), code
    return render_template("console/error.html", code=code, message=message), code


def _is_japanese(text: str | None) -> bool:
    return bool(text) and any("\u3040" <= ch <= "\u9fff" for ch in text or "")


def _db():
    return current_services().db.session()


T = TypeVar("T")


def _now():
    return current_services().clock.now()


def _row_id(raw: str, invalid: str) -> int:
    """A non-negative id from a query or form value (negative counts as 0); 400 otherwise."""
    try:
        value = max(0, int(raw))
    except ValueError:
        abort(400, description=invalid)
    if value > MAX_ROW_ID:
        abort(400, description=invalid)
    return value


def _get_or_404(model: type[T], row_id: int, missing: str) -> T:
    """The row, or a 404 page saying (in Japanese) what could not be found."""
    row = _db().get(model, row_id)
    if row is None:
        abort(404, description=missing)
    return row


def _ticket_or_404(ticket_id: int) -> SupportTicket:
    return _get_or_404(SupportTicket, ticket_id, "チャットが見つかりません。")


# -- sign-in ----------------------------------------------------------------------------------


@bp.get("/login")
def login() -> ResponseReturnValue:
    if g.get("operator") is not None:
        return redirect(url_for("console.queue_page"))
    return render_template("console/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    next_url = request.form.get("next", "")
    session_db = _db()
    result = ops.authenticate(session_db, email, password, request.remote_addr or "-", _now())
    session_db.commit()
    if result.locked:
        error, status = (
            "ログインの失敗が続いたため、しばらくログインできません。15分ほどしてからお試しください。",
            429,
        )
    elif result.operator is None:
        error, status = "メールアドレスまたはパスワードが違います。", 401
    else:
        start_session(result.operator, _now())
        log.info("operator signed in", extra={"operator": result.operator.id})
        if result.operator.must_change_password:
            return redirect(url_for("console.change_password"), code=303)
        return redirect(safe_next(next_url), code=303)
    page = render_template("console/login.html", next=next_url, email=email, error=error)
    return page, status


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    operator = current_operator()
    ops.end_sessions(operator)
    _db().commit()
    session.clear()
    flash("ログアウトしました。", "info")
    return redirect(url_for("console.login"), code=303)


@bp.get("/password")
@login_required
def change_password() -> ResponseReturnValue:
    return render_template("console/password.html")


@bp.post("/password")
@login_required
def change_password_submit() -> ResponseReturnValue:
    operator = current_operator()
    form = request.form
    db = _db()
    try:
        ops.change_password(
            db,
            operator,
            form.get("current_password", ""),
            form.get("new_password", ""),
            form.get("new_password_again", ""),
            request.remote_addr or "-",
            _now(),
        )
    except ops.OperatorError as exc:
        db.commit()  # keeps a failed check of the current password for the lockout
        status = 429 if isinstance(exc, ops.AccountLocked) else 400
        return render_template("console/password.html", error=str(exc)), status
    db.commit()
    # The change ended every session; this browser gets a fresh one and stays signed in.
    start_session(operator, _now())
    log.info("operator changed password", extra={"operator": operator.id})
    flash("パスワードを変更しました。ほかの端末やブラウザのログインは終了しました。", "info")
    return redirect(url_for("console.queue_page"), code=303)


# -- queue ------------------------------------------------------------------------------------


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    return redirect(url_for("console.queue_page"))


def _queue_data(tab: str) -> dict[str, Any]:
    """Rows and counts of a tab; the resolved tab reads its search and page from the URL."""
    if tab not in TABS:
        abort(400, description="不明なタブです。")
    db = _db()
    operator = current_operator()
    services = current_services()
    pager: dict[str, Any] | None = None
    if tab == "resolved":
        page, pager = _resolved_page(db)
        tickets = page.tickets
        scores = support.ticket_scores(db, [t.id for t in tickets])
    else:
        tickets = support.queue(db, tab, operator.id)
        scores = {}
    names = operator_names(db)
    last = last_messages(db, [t.shopper_id for t in tickets])
    now = services.clock.now()
    rows = [
        ticket_row(t, now, services.settings.tz, names, last.get(t.shopper_id), scores.get(t.id))
        for t in tickets
    ]
    for row, ticket in zip(rows, tickets, strict=True):
        row["mine"] = ticket.operator_id == operator.id
    stats = support.satisfaction_stats(db, since=now - timedelta(days=30))
    mine = support.satisfaction_stats(db, operator_id=operator.id, since=now - timedelta(days=30))
    return {
        "tab": tab,
        "rows": rows,
        "empty": _empty_text(pager),
        "pager": pager,
        "counts": support.queue_counts(db, operator.id),
        "csat": _stats_dict(stats),
        "csat_mine": _stats_dict(mine),
    }


def _resolved_page(db: Session) -> tuple[support.ResolvedPage, dict[str, Any]]:
    """The page for ?q=&older=&newer=, with the search and the links to the pages around it."""
    search = request.args.get("q", "").strip()
    older = request.args.get("older") or None
    newer = request.args.get("newer") or None
    try:
        page = support.resolved_tickets(
            db, search, older_than=_page_key(older), newer_than=_page_key(newer)
        )
    except support.TicketError as exc:
        abort(400, description=str(exc))
    query = search or None  # url_for leaves out None: no empty ?q= in the links

    def link(**cursor: str) -> str:
        return url_for("console.queue_page", tab="resolved", q=query, **cursor)

    paged = older is not None or newer is not None
    return page, {
        "search": search,
        "max_length": support.MAX_SEARCH_LENGTH,
        "page_size": support.RESOLVED_PAGE_SIZE,
        "args": {"q": query, "older": older, "newer": newer},
        "paged": paged,
        "newer_url": link(newer=page.newer.token()) if page.newer else None,
        "older_url": link(older=page.older.token()) if page.older else None,
        "first_url": link() if paged and (page.newer or not page.tickets) else None,
    }


def _page_key(token: str | None) -> support.PageKey | None:
    """The page cursor of ?older= or ?newer=; TicketError for one no ticket can have."""
    if token is None:
        return None
    key = support.PageKey.from_token(token)
    if key.id > MAX_ROW_ID:
        raise support.TicketError("ページの指定が正しくありません。")
    return key


def _empty_text(pager: dict[str, Any] | None) -> str:
    if pager is None:
        return "該当するチャットはありません。"
    if pager["search"]:
        return (
            f"「{pager['search']}」に一致する終了済みのチャットは見つかりませんでした。"
            "表示名の一部、会員ID（前方一致）、LINEユーザーIDで検索できます。"
        )
    if pager["paged"]:
        return "このページに表示できるチャットはありません。最新の一覧からご覧ください。"
    return "終了したチャットはまだありません。"


def _stats_dict(stats: support.SatisfactionStats) -> dict[str, Any]:
    average = f"{stats.average:.1f}" if stats.average is not None else "—"
    return {"average": average, "count": stats.count}


@bp.get("/queue")
@login_required
def queue_page() -> ResponseReturnValue:
    data = _queue_data(request.args.get("tab", "waiting"))
    return render_template("console/queue.html", tabs=TABS, **data)


@bp.get("/api/queue")
@login_required
def queue_api() -> ResponseReturnValue:
    return jsonify(_queue_data(request.args.get("tab", "waiting")))


@bp.post("/tickets/<int:ticket_id>/claim")
@login_required
def claim(ticket_id: int) -> ResponseReturnValue:
    _ticket_or_404(ticket_id)
    db = _db()
    won = support.claim_ticket(db, ticket_id, current_operator().id, _now())
    db.commit()
    if not won:
        flash("このチャットは既に他のスタッフが担当しているか、終了しています。", "error")
        return redirect(url_for("console.queue_page"), code=303)
    flash("チャットを担当しました。", "info")
    return redirect(url_for("console.chat", ticket_id=ticket_id), code=303)


# -- chat -------------------------------------------------------------------------------------


def _messages(shopper_id: int, after: int = 0) -> list[ConversationMessage]:
    query = (
        select(ConversationMessage)
        .where(ConversationMessage.shopper_id == shopper_id, ConversationMessage.id > after)
        .order_by(ConversationMessage.id.desc())
        .limit(MESSAGE_PAGE)
    )
    return list(reversed(_db().scalars(query).all()))


def _render_chat(
    ticket: SupportTicket,
    *,
    reply_text: str = "",
    reply_error: str | None = None,
    reply_token: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    db = _db()
    services = current_services()
    tz = services.settings.tz
    operator = current_operator()
    names = operator_names(db)
    messages = [message_view(m, tz, names) for m in _messages(ticket.shopper_id)]
    notes = [
        {
            "author": names.get(n.operator_id, ""),
            "time": local_time(n.created_at, tz),
            "body": n.body,
            "ticket_id": n.ticket_id,
        }
        for n in support.shopper_notes(db, ticket.shopper_id)
    ]
    history = [
        ticket_row(t, services.clock.now(), tz, names, None)
        for t in support.tickets_of_shopper(db, ticket.shopper_id)
        if t.id != ticket.id
    ]
    page = render_template(
        "console/chat.html",
        ticket=ticket_row(ticket, services.clock.now(), tz, names, None),
        ticket_obj=ticket,
        shopper=ticket.shopper,
        messages=messages,
        last_message_id=messages[-1]["id"] if messages else 0,
        notes=notes,
        history=history,
        member=member_context(db, ticket.shopper, tz),
        canned=support.canned_replies(db),
        can_act=support.can_act(ticket, operator) and ticket.is_open,
        can_reply=support.can_act(ticket, operator) and ticket.state is TicketState.CLAIMED,
        can_claim=ticket.state is TicketState.WAITING,
        transfer_targets=[o for o in ops.active_operators(db) if o.id != ticket.operator_id],
        reply_text=reply_text,
        reply_error=reply_error,
        reply_token=reply_token or str(uuid.uuid4()),
        score=support.ticket_scores(db, [ticket.id]).get(ticket.id),
    )
    return page, status


@bp.get("/tickets/<int:ticket_id>")
@login_required
def chat(ticket_id: int) -> ResponseReturnValue:
    return _render_chat(_ticket_or_404(ticket_id))


@bp.get("/api/tickets/<int:ticket_id>/messages")
@login_required
def messages_api(ticket_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(ticket_id)
    after = _row_id(request.args.get("after", "0"), "after は数値で指定してください。")
    tz = current_services().settings.tz
    names = operator_names(_db())
    return jsonify(
        {
            "ticket": {
                "id": ticket.id,
                "state": ticket.state.value,
                "operator_id": ticket.operator_id,
            },
            "messages": [message_view(m, tz, names) for m in _messages(ticket.shopper_id, after)],
        }
    )


def _line_error_text(exc: LineError) -> str:
    if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
        detail = "LINEが送信を受け付けませんでした"
    elif exc.status == 429:
        detail = "LINEの送信上限に達しています"
    elif exc.status is not None:
        detail = "LINE側で障害が発生しています"
    else:
        detail = "LINEに接続できませんでした"
    status = exc.status or "接続エラー"
    return f"送信できませんでした：{detail}（{status}：{exc}）。メッセージは残してあります。"


@bp.post("/tickets/<int:ticket_id>/reply")
@login_required
def reply(ticket_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(ticket_id)
    operator = current_operator()
    text = request.form.get("text", "")
    token = request.form.get("reply_token", "")
    try:
        token = str(uuid.UUID(token))
    except ValueError:
        abort(400, description="送信フォームが正しくありません。画面を再読み込みしてください。")
    if not support.can_act(ticket, operator):
        abort(403, description="このチャットの担当者ではないため返信できません。")
    services = current_services()
    db = _db()
    messenger = Messenger(db, services.line, services.clock)
    try:
        support.send_staff_reply(
            messenger,
            ticket,
            operator,
            text,
            token,
            services.clock.now(),
            icon_url=services.settings.staff_icon_url,
        )
    except support.TicketForbidden as exc:
        abort(403, description=str(exc))
    except support.TicketError as exc:
        status = 409 if isinstance(exc, support.TicketConflict) else 400
        return _render_chat(ticket, reply_text=text, reply_error=str(exc), status=status)
    except LineError as exc:
        db.commit()  # keep the failed attempt in the log
        log.warning("staff reply failed", extra={"ticket": ticket.id, "status": exc.status})
        # A new token: the next try is a new send, since this one was not accepted.
        return _render_chat(ticket, reply_text=text, reply_error=_line_error_text(exc), status=502)
    db.commit()
    return redirect(url_for("console.chat", ticket_id=ticket.id, _anchor="reply"), code=303)


@bp.post("/tickets/<int:ticket_id>/notes")
@login_required
def add_note(ticket_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(ticket_id)
    db = _db()
    try:
        support.add_note(db, ticket, current_operator(), request.form.get("body", ""), _now())
    except support.TicketError as exc:
        flash(str(exc), "error")
    else:
        db.commit()
        flash("メモを追加しました。", "info")
    return redirect(url_for("console.chat", ticket_id=ticket.id, _anchor="notes"), code=303)


@bp.post("/tickets/<int:ticket_id>/transfer")
@login_required
def transfer(ticket_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(ticket_id)
    db = _db()
    target_raw = request.form.get("to", "")
    target: Operator | None = None
    if target_raw != "queue":
        target_id = _row_id(target_raw, "引き継ぎ先を選んでください。")
        target = db.get(Operator, target_id) if target_id else None
        if target is None:
            abort(400, description="引き継ぎ先を選んでください。")
    try:
        support.transfer_ticket(db, ticket, current_operator(), target, _now())
    except support.TicketForbidden as exc:
        abort(403, description=str(exc))
    except support.TicketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.chat", ticket_id=ticket.id), code=303)
    db.commit()
    flash(f"{target.name}さんに引き継ぎました。" if target else "待機キューに戻しました。", "info")
    return redirect(url_for("console.queue_page"), code=303)


@bp.post("/tickets/<int:ticket_id>/resolve")
@login_required
def resolve(ticket_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(ticket_id)
    operator = current_operator()
    services = current_services()
    db = _db()
    try:
        support.resolve_ticket(db, ticket, operator, services.clock.now())
    except support.TicketForbidden as exc:
        abort(403, description=str(exc))
    except support.TicketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.chat", ticket_id=ticket.id), code=303)
    db.commit()
    error = support.tell_shopper_returned(
        Messenger(db, services.line, services.clock),
        services.templates,
        services.settings,
        ticket,
        survey=request.form.get("survey") == "1",
        staff_id=operator.id,
    )
    db.commit()
    if error is not None:
        flash(
            "チャットは終了しましたが、お客様への終了メッセージを送れませんでした"
            f"（{error.status or '接続エラー'}）。",
            "error",
        )
    else:
        flash("チャットを終了し、ボットに戻しました。", "info")
    return redirect(url_for("console.chat", ticket_id=ticket.id), code=303)


# -- admin: operators ------------------------------------------------------------------------


@bp.get("/admin/operators")
@admin_required
def admin_operators() -> ResponseReturnValue:
    db = _db()
    since = _now() - timedelta(days=30)
    people = ops.all_operators(db)
    stats = {o.id: _stats_dict(support.satisfaction_stats(db, o.id, since)) for o in people}
    return render_template("console/admin_operators.html", people=people, stats=stats)


def _role(value: str) -> OperatorRole:
    try:
        return OperatorRole(value)
    except ValueError:
        abort(400, description="権限は operator か admin を選んでください。")


@bp.post("/admin/operators")
@admin_required
def admin_operator_create() -> ResponseReturnValue:
    db = _db()
    form = request.form
    try:
        ops.create_operator(
            db,
            form.get("email", ""),
            form.get("name", ""),
            form.get("password", ""),
            _role(form.get("role", "operator")),
            _now(),
        )
    except ops.OperatorError as exc:
        _refused(db, exc)
    else:
        _saved(db, "スタッフを追加しました。")
    return redirect(url_for("console.admin_operators"), code=303)


@bp.post("/admin/operators/<int:operator_id>")
@admin_required
def admin_operator_update(operator_id: int) -> ResponseReturnValue:
    db = _db()
    person = _get_or_404(Operator, operator_id, "スタッフが見つかりません。")
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


@bp.post("/admin/operators/<int:operator_id>/password")
@admin_required
def admin_operator_password(operator_id: int) -> ResponseReturnValue:
    db = _db()
    person = _get_or_404(Operator, operator_id, "スタッフが見つかりません。")
    acting = current_operator()
    try:
        ops.reset_password(db, person, request.form.get("password", ""), acting)
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


@bp.get("/admin/canned")
@admin_required
def admin_canned() -> ResponseReturnValue:
    return render_template("console/admin_canned.html", replies=support.canned_replies(_db()))


@bp.post("/admin/canned")
@bp.post("/admin/canned/<int:reply_id>")
@admin_required
def admin_canned_save(reply_id: int | None = None) -> ResponseReturnValue:
    db = _db()
    existing = None
    if reply_id is not None:
        existing = _get_or_404(CannedReply, reply_id, "定型文が見つかりません。")
    try:
        support.save_canned_reply(
            db, existing, request.form.get("title", ""), request.form.get("body", ""), _now()
        )
    except support.TicketError as exc:
        _refused(db, exc)
    else:
        _saved(db, "定型文を保存しました。")
    return redirect(url_for("console.admin_canned"), code=303)


@bp.post("/admin/canned/<int:reply_id>/delete")
@admin_required
def admin_canned_delete(reply_id: int) -> ResponseReturnValue:
    db = _db()
    existing = _get_or_404(CannedReply, reply_id, "定型文が見つかりません。")
    db.delete(existing)
    _saved(db, "定型文を削除しました。")
    return redirect(url_for("console.admin_canned"), code=303)


# -- admin: business hours --------------------------------------------------------------------


@bp.get("/admin/hours")
@admin_required
def admin_hours() -> ResponseReturnValue:
    db = _db()
    settings = current_services().settings
    hours = support.current_business_hours(db, settings)
    return render_template(
        "console/admin_hours.html",
        hours=hours,
        weekdays=WEEKDAYS,
        overridden=support.business_hours_override(db) is not None,
        effective=describe_hours(hours),
        default=describe_hours(settings.business_hours),
    )


@bp.post("/admin/hours")
@admin_required
def admin_hours_save() -> ResponseReturnValue:
    db = _db()
    form = request.form
    if form.get("reset") == "1":
        support.set_business_hours(db, None, current_operator().id, _now())
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
        support.set_business_hours(
            db,
            BusinessHours(days, start.replace(second=0), end.replace(second=0)),
            current_operator().id,
            _now(),
        )
    except support.TicketError as exc:
        flash(str(exc), "error")
    else:
        db.commit()
        flash("営業時間を保存しました。", "info")
    return redirect(url_for("console.admin_hours"), code=303)
