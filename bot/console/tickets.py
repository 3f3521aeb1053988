"""Console ticket pages: the queue tabs (and their JSON for live updates), a chat with its
messages, and what staff do in it (claim, reply, note, transfer, resolve)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console import operators as ops
from bot.console import rendering, web
from bot.console.present import (
    last_messages,
    local_time,
    member_context,
    message_view,
    operator_names,
    satisfaction_view,
    ticket_row,
)
from bot.console.security import current_operator, login_required
from bot.core.services import current_services
from bot.line.gateway import LineError
from bot.line.messaging import Messenger
from bot.models import ConversationMessage, Operator, SupportTicket, TicketState
from bot.support import actions, notes, queue, satisfaction
from bot.support.errors import TicketConflict, TicketError, TicketForbidden

log = logging.getLogger(__name__)

TABS = {"waiting": "待機中", "mine": "自分の担当", "open": "対応中すべて", "resolved": "終了"}
MESSAGE_PAGE = 300  # the newest messages shown in a chat


def register(bp: Blueprint) -> None:
    """Add the ticket routes to the console blueprint (endpoints are the function names)."""
    bp.get("/")(index)
    bp.get("/queue")(queue_page)
    bp.get("/api/queue")(queue_api)
    bp.post("/tickets/<int:ticket_id>/claim")(claim)
    bp.get("/tickets/<int:ticket_id>")(chat)
    bp.get("/api/tickets/<int:ticket_id>/messages")(messages_api)
    rendering.register(bp)
    bp.post("/tickets/<int:ticket_id>/reply")(reply)
    bp.post("/tickets/<int:ticket_id>/notes")(add_note)
    bp.post("/tickets/<int:ticket_id>/transfer")(transfer)
    bp.post("/tickets/<int:ticket_id>/resolve")(resolve)


def _ticket_or_404(ticket_id: int) -> SupportTicket:
    return web.get_or_404(SupportTicket, ticket_id, "チャットが見つかりません。")


# -- queue ------------------------------------------------------------------------------------


@login_required
def index() -> ResponseReturnValue:
    return redirect(url_for("console.queue_page"))


def _queue_data(tab: str) -> dict[str, Any]:
    """Rows and counts of a tab; the resolved tab reads its search and page from the URL."""
    if tab not in TABS:
        abort(400, description="不明なタブです。")
    db = web.db_session()
    operator = current_operator()
    services = current_services()
    pager: dict[str, Any] | None = None
    if tab == "resolved":
        page, pager = _resolved_page(db)
        tickets = page.tickets
        scores = satisfaction.ticket_scores(db, [t.id for t in tickets])
    else:
        tickets = queue.open_tickets(db, tab, operator.id)
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
    stats = satisfaction.satisfaction_stats(db, since=now - timedelta(days=30))
    mine = satisfaction.satisfaction_stats(
        db, operator_id=operator.id, since=now - timedelta(days=30)
    )
    return {
        "tab": tab,
        "rows": rows,
        "empty": _empty_text(pager),
        "pager": pager,
        "counts": queue.queue_counts(db, operator.id),
        "csat": satisfaction_view(stats),
        "csat_mine": satisfaction_view(mine),
    }


def _resolved_page(db: Session) -> tuple[queue.ResolvedPage, dict[str, Any]]:
    """The page for ?q=&older=&newer=, with the search and the links to the pages around it."""
    search = request.args.get("q", "").strip()
    older = request.args.get("older") or None
    newer = request.args.get("newer") or None
    try:
        page = queue.resolved_tickets(
            db, search, older_than=_page_key(older), newer_than=_page_key(newer)
        )
    except TicketError as exc:
        abort(400, description=str(exc))
    query = search or None  # url_for leaves out None: no empty ?q= in the links

    def link(**cursor: str) -> str:
        return url_for("console.queue_page", tab="resolved", q=query, **cursor)

    paged = older is not None or newer is not None
    return page, {
        "search": search,
        "max_length": queue.MAX_SEARCH_LENGTH,
        "page_size": queue.RESOLVED_PAGE_SIZE,
        "args": {"q": query, "older": older, "newer": newer},
        "paged": paged,
        "newer_url": link(newer=page.newer.token()) if page.newer else None,
        "older_url": link(older=page.older.token()) if page.older else None,
        "first_url": link() if paged and (page.newer or not page.tickets) else None,
    }


def _page_key(token: str | None) -> queue.PageKey | None:
    """The page cursor of ?older= or ?newer=; TicketError for one no ticket can have."""
    if token is None:
        return None
    key = queue.PageKey.from_token(token)
    if key.id > web.MAX_ROW_ID:
        raise TicketError("ページの指定が正しくありません。")
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


@login_required
def queue_page() -> ResponseReturnValue:
    data = _queue_data(request.args.get("tab", "waiting"))
    return render_template("console/queue.html", tabs=TABS, **data)


@login_required
def queue_api() -> ResponseReturnValue:
    return jsonify(_queue_data(request.args.get("tab", "waiting")))


@login_required
def claim(ticket_id: int) -> ResponseReturnValue:
    _ticket_or_404(ticket_id)
    db = web.db_session()
    won = actions.claim_ticket(db, ticket_id, current_operator().id, web.now())
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
    return list(reversed(web.db_session().scalars(query).all()))


def _render_chat(
    ticket: SupportTicket,
    *,
    reply_text: str = "",
    reply_error: str | None = None,
    reply_token: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    db = web.db_session()
    services = current_services()
    tz = services.settings.tz
    operator = current_operator()
    names = operator_names(db)
    pictures = rendering.pictures()
    messages = [
        message_view(m, tz, names, image_src=pictures) for m in _messages(ticket.shopper_id)
    ]
    note_rows = [
        {
            "author": names.get(n.operator_id, ""),
            "time": local_time(n.created_at, tz),
            "body": n.body,
            "ticket_id": n.ticket_id,
        }
        for n in notes.shopper_notes(db, ticket.shopper_id)
    ]
    history = [
        ticket_row(t, services.clock.now(), tz, names, None)
        for t in queue.tickets_of_shopper(db, ticket.shopper_id)
        if t.id != ticket.id
    ]
    page = render_template(
        "console/chat.html",
        ticket=ticket_row(ticket, services.clock.now(), tz, names, None),
        ticket_obj=ticket,
        shopper=ticket.shopper,
        messages=messages,
        flex_values=".".join(sorted({name for m in messages for name in m["values"]})),
        last_message_id=messages[-1]["id"] if messages else 0,
        notes=note_rows,
        history=history,
        member=member_context(db, ticket.shopper, tz),
        canned=notes.canned_replies(db),
        can_act=actions.can_act(ticket, operator) and ticket.is_open,
        can_reply=actions.can_act(ticket, operator) and ticket.state is TicketState.CLAIMED,
        can_claim=ticket.state is TicketState.WAITING,
        transfer_targets=[o for o in ops.active_operators(db) if o.id != ticket.operator_id],
        reply_text=reply_text,
        reply_error=reply_error,
        reply_token=reply_token or str(uuid.uuid4()),
        score=satisfaction.ticket_scores(db, [ticket.id]).get(ticket.id),
    )
    return page, status


@login_required
def chat(ticket_id: int) -> ResponseReturnValue:
    return _render_chat(_ticket_or_404(ticket_id))


@login_required
def messages_api(ticket_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(ticket_id)
    after = web.row_id(request.args.get("after", "0"), "after は数値で指定してください。")
    tz = current_services().settings.tz
    names = operator_names(web.db_session())
    pictures = rendering.pictures()
    item = get_template_attribute("console/_message.html", "message_item")
    views = [
        message_view(m, tz, names, image_src=pictures) for m in _messages(ticket.shopper_id, after)
    ]
    return jsonify(
        {
            "ticket": {
                "id": ticket.id,
                "state": ticket.state.value,
                "operator_id": ticket.operator_id,
            },
            # The list item as the page draws it (escaped by the template and the renderer).
            "messages": [{**view, "item": str(item(view))} for view in views],
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
    if not actions.can_act(ticket, operator):
        abort(403, description="このチャットの担当者ではないため返信できません。")
    services = current_services()
    db = web.db_session()
    messenger = Messenger(db, services.line, services.clock)
    try:
        actions.send_staff_reply(
            messenger,
            ticket,
            operator,
            text,
            token,
            services.clock.now(),
            icon_url=services.settings.staff_icon_url,
        )
    except TicketForbidden as exc:
        abort(403, description=str(exc))
    except TicketError as exc:
        status = 409 if isinstance(exc, TicketConflict) else 400
        return _render_chat(ticket, reply_text=text, reply_error=str(exc), status=status)
    except LineError as exc:
        db.commit()  # keep the failed attempt in the log
        log.warning("staff reply failed", extra={"ticket": ticket.id, "status": exc.status})
        # A new token: the next try is a new send, since this one was not accepted.
        return _render_chat(ticket, reply_text=text, reply_error=_line_error_text(exc), status=502)
    db.commit()
    return redirect(url_for("console.chat", ticket_id=ticket.id, _anchor="reply"), code=303)


@login_required
def add_note(ticket_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(ticket_id)
    db = web.db_session()
    try:
        notes.add_note(db, ticket, current_operator(), request.form.get("body", ""), web.now())
    except TicketError as exc:
        flash(str(exc), "error")
    else:
        db.commit()
        flash("メモを追加しました。", "info")
    return redirect(url_for("console.chat", ticket_id=ticket.id, _anchor="notes"), code=303)


@login_required
def transfer(ticket_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(ticket_id)
    db = web.db_session()
    target_raw = request.form.get("to", "")
    target: Operator | None = None
    if target_raw != "queue":
        target_id = web.row_id(target_raw, "引き継ぎ先を選んでください。")
        target = db.get(Operator, target_id) if target_id else None
        if target is None:
            abort(400, description="引き継ぎ先を選んでください。")
    try:
        actions.transfer_ticket(db, ticket, current_operator(), target, web.now())
    except TicketForbidden as exc:
        abort(403, description=str(exc))
    except TicketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.chat", ticket_id=ticket.id), code=303)
    db.commit()
    flash(f"{target.name}さんに引き継ぎました。" if target else "待機キューに戻しました。", "info")
    return redirect(url_for("console.queue_page"), code=303)


@login_required
def resolve(ticket_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(ticket_id)
    operator = current_operator()
    services = current_services()
    db = web.db_session()
    try:
        actions.resolve_ticket(db, ticket, operator, services.clock.now())
    except TicketForbidden as exc:
        abort(403, description=str(exc))
    except TicketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.chat", ticket_id=ticket.id), code=303)
    db.commit()
    error = actions.tell_shopper_returned(
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
