"""Console pages of 一斉配信 (broadcasts).

Admins compose (a registered template with its data, or a pasted Flex JSON), choose the
segment in the scenario file's condition language, see the message as LINE will show it with
the audience and the month's quota, then send now or schedule, and cancel before it starts.
Operators see the list and each broadcast's progress (shoppers ask staff about a sale they
were told about), but cannot compose or cancel. A broadcast's page also shows its opens and
taps from LINE's insight (its aggregation unit, fetched daily by `bot.delivery.insights`).

Nothing the form carries is trusted: the confirm step posts the same fields again and they are
checked again; the audience is always counted by the server.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from bot.broadcast import audience, compose, service
from bot.broadcast.jobs import enqueue_send
from bot.console import web
from bot.console.present import local_time
from bot.console.rendering import pictures
from bot.console.security import admin_required, current_operator, login_required
from bot.core.services import current_services
from bot.delivery.aggregation import broadcast_unit
from bot.delivery.insights import HIDDEN_TEXT, UnitTotal, period_insight, unit_totals
from bot.delivery.send_rules import quiet_until
from bot.line.gateway import LineError
from bot.models import Broadcast, BroadcastState
from flex_templates.html import RenderedHtml, render_message, render_quick_replies

LIST_ROWS = 50
STATE_LABELS = {
    "scheduled": "予約済み",
    "sending": "送信中",
    "done": "完了",
    "cancelled": "取り消し",
    "refused": "開始せず（上限）",
    "stopped": "中断（月間上限）",
}
OUTCOME_LABELS = {
    "sent": "送信済み",
    "skipped": "送信しない",
    "deferred": "延期",
    "queued": "送信待ち",
    "pending": "未処理",
    "failed": "失敗",
    "not_sent": "未送信（上限）",
}
# The engine's reasons (bot.delivery.send_rules) as the shop reads them.
REASON_LABELS = {
    "opted out": "配信停止中",
    "unfollowed": "ブロック・友だち解除",
    "postponed: quiet hours": "深夜・早朝のため朝に送信",
    "postponed: daily cap": "1日の配信上限のため翌日に送信",
    "postponed: chat is with staff": "スタッフ対応中のため後で送信",
    "postponed: LINE monthly limit reached": "LINEの月間上限のため待機",
    "already accepted by LINE (retry key)": "送信済み（再送は重複なし）",
}
FORM_FIELDS = (
    "title",
    "source",
    "template",
    "template_data",
    "personalise",
    "flex_json",
    "alt_text",
    "segment",
    "when",
    "send_at",
)


def register(bp: Blueprint) -> None:
    """Add the routes to the console blueprint (endpoints are the function names)."""
    bp.get("/broadcasts")(broadcasts)
    bp.get("/broadcasts/new")(broadcast_new)
    bp.post("/broadcasts/preview")(broadcast_preview)
    bp.post("/broadcasts")(broadcast_create)
    bp.get("/broadcasts/<int:broadcast_id>")(broadcast_detail)
    bp.post("/broadcasts/<int:broadcast_id>/cancel")(broadcast_cancel)


# -- reading the form ------------------------------------------------------------------------


def _form() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in FORM_FIELDS}


def _template_choice(raw: str) -> tuple[str, str]:
    name, _, variant = raw.partition("@")
    return name, variant


def _content(form: dict[str, str]) -> compose.Content:
    services = current_services()
    if form["source"] == "flex":
        return compose.from_flex_json(form["flex_json"], form["alt_text"])
    if form["source"] == "template":
        name, variant = _template_choice(form["template"])
        return compose.from_template(
            services.templates,
            name,
            variant,
            form["template_data"],
            personalise=form["personalise"] == "on",
            settings=services.settings,
        )
    raise compose.ComposeError(
        "メッセージの作り方（テンプレートか Flex JSON か）を選んでください。"
    )


def _checked(form: dict[str, str]) -> dict[str, Any]:
    """Everything the form says, checked; ComposeError with the first problem."""
    services = current_services()
    now = web.now()
    title = compose.parse_title(form["title"])
    content = _content(form)
    condition = compose.parse_segment(form["segment"])
    send_at = compose.parse_send_at(form["when"], form["send_at"], services.settings, now)
    figures = audience.count(web.db_session(), condition, services.settings, now)
    quiet = quiet_until(send_at, services.settings)
    return {
        "quiet_until": local_time(quiet, services.settings.tz) if quiet else None,
        "title": title,
        "content": content,
        "segment": form["segment"].strip() or None,
        "send_at": send_at,
        "now": send_at <= now,
        "audience": figures,
    }


def _quota(needed: int) -> tuple[audience.QuotaCheck | None, str | None]:
    """The quota check against LINE's figures now, or why they could not be read."""
    try:
        quota = current_services().line.message_quota()
    except LineError:
        return None, "LINEの今月の送信数を確認できませんでした。時間をおいてやり直してください。"
    return audience.QuotaCheck.of(quota, needed), None


def _preview(message: dict[str, Any]) -> dict[str, Any]:
    """The message as LINE draws it, for the console's CSP (stylesheets from its origin)."""
    body = render_message(message, image_src=pictures(), links=False)
    quick = render_quick_replies(message, links=False)
    return {
        "html": Markup(body),
        "quick": Markup(quick),
        "value_classes": ".".join(n[3:] for n in RenderedHtml(body + quick).value_classes),
        "alt": message.get("altText", ""),
    }


def _compose_page(form: dict[str, str], error: str | None = None, status: int = 200) -> Any:
    services = current_services()
    templates = services.templates
    choices = []
    for name in compose.broadcast_templates(templates):
        choices.append((name, name))
        choices.extend((f"{name}@{v}", f"{name}（{v}）") for v in templates.variants(name))
    if not form.get("template_data"):
        name, _ = _template_choice(form.get("template") or (choices[0][0] if choices else ""))
        if name in compose.broadcast_templates(templates):
            form["template_data"] = compose.template_data_text(templates, name, services.settings)
    page = render_template(
        "console/broadcast_new.html",
        form=form,
        error=error,
        choices=choices,
        tz_name=services.settings.shop_timezone,
        create_key=form.get("create_key") or secrets.token_urlsafe(16),
    )
    return page, status


# -- admins: compose, preview, create, cancel ------------------------------------------------


@admin_required
def broadcast_new() -> ResponseReturnValue:
    form = {name: "" for name in FORM_FIELDS}
    form.update(source="template", when="now", template=request.args.get("template", ""))
    return _compose_page(form)


def _create_key() -> str:
    key = request.form.get("create_key", "")
    if not 16 <= len(key) <= 64:
        abort(400, description="画面を再読み込みしてからやり直してください。")
    return key


@admin_required
def broadcast_preview() -> ResponseReturnValue:
    form = _form()
    form["create_key"] = _create_key()
    try:
        checked = _checked(form)
    except compose.ComposeError as exc:
        return _compose_page(form, str(exc), 400)
    figures: audience.Audience = checked["audience"]
    check, quota_error = _quota(figures.opted_in)
    content: compose.Content = checked["content"]
    return render_template(
        "console/broadcast_preview.html",
        form=form,
        checked=checked,
        figures=figures,
        check=check,
        quota_error=quota_error,
        preview=_preview(content.message),
        send_at=local_time(checked["send_at"], current_services().settings.tz),
        fields=FORM_FIELDS,
    )


@admin_required
def broadcast_create() -> ResponseReturnValue:
    form = _form()
    form["create_key"] = create_key = _create_key()
    try:
        checked = _checked(form)
    except compose.ComposeError as exc:
        return _compose_page(form, str(exc), 400)
    figures: audience.Audience = checked["audience"]
    if checked["now"]:
        # Sending now: refused here already when the quota does not cover it (a scheduled
        # one is checked when it starts, maybe in the next month).
        check, quota_error = _quota(figures.opted_in)
        if quota_error:
            return _compose_page(form, quota_error, 503)
        assert check is not None
        refusal = check.refusal()
        if refusal:
            return _compose_page(form, refusal, 409)
    services = current_services()
    db = web.db_session()
    now = web.now()
    broadcast, created = service.create(
        db,
        title=checked["title"],
        content=checked["content"],
        segment=checked["segment"],
        send_at=checked["send_at"],
        created_by=current_operator().email,
        create_key=create_key,
        now=now,
    )
    send_now = created and checked["now"]
    if send_now:
        broadcast.next_due_at = now + service.DISPATCH_GRACE  # handed to a sender below
    db.commit()
    if send_now:
        enqueue_send(services.queues, broadcast.id)
        flash(f"「{broadcast.title}」の送信を始めました。", "info")
    elif created:
        when = local_time(broadcast.scheduled_at, services.settings.tz)
        flash(f"「{broadcast.title}」を{when}に予約しました。", "info")
    else:
        flash("この配信はすでに登録されています（同じ送信は二度行われません）。", "info")
    return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast.id), code=303)


@admin_required
def broadcast_cancel(broadcast_id: int) -> ResponseReturnValue:
    db = web.db_session()
    web.get_or_404(Broadcast, broadcast_id, "配信が見つかりません。")
    try:
        broadcast = service.cancel(db, broadcast_id, web.now())
    except service.BroadcastError as exc:
        db.rollback()
        abort(409, description=str(exc))
    db.commit()
    flash(f"「{broadcast.title}」を取り消しました。", "info")
    return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id), code=303)


# -- everyone: the list and a broadcast's progress -------------------------------------------


def _total_text(total: UnitTotal | None) -> str:
    """A figure summed over LINE's days as the shop reads it: hidden days are never 0."""
    if total is None or total.days == 0:
        return "まだ取得していません"
    if total.known is None:
        return HIDDEN_TEXT
    if total.hidden_days:
        return f"延べ{total.known:,}人以上（{total.hidden_days}日分は20人未満のため非表示）"
    return f"延べ{total.known:,}人"


def _people_text(people: int | None, days: UnitTotal | None) -> str:
    """LINE's figure for the whole period (a shopper counts once), with the daily sum beside
    it when LINE gave one for any day."""
    if people is None:
        return HIDDEN_TEXT
    if days is None or days.known is None:
        return f"{people:,}人"
    return f"{people:,}人（{_total_text(days)}）"


def _day(day: date) -> str:
    return f"{day.month}/{day.day}"


def _insight(broadcast: Broadcast) -> dict[str, Any] | None:
    """Opens and taps of a broadcast that has started: LINE's figures for its period (each
    shopper once) when fetched, else summed over the days LINE answered."""
    if broadcast.started_at is None:
        return None
    session = web.db_session()
    unit = broadcast_unit(broadcast.id)
    totals = unit_totals(session, [unit]).get(unit)
    opens, taps = (totals.opens, totals.taps) if totals else (None, None)
    days = opens.days if opens else 0
    period = period_insight(session, unit)
    if period is None:
        return {
            "opens": _total_text(opens),
            "taps": _total_text(taps),
            "days": days,
            "period": None,
        }
    return {
        "opens": _people_text(period.unique_impressions, opens),
        "taps": _people_text(period.unique_clicks, taps),
        "days": days,
        "period": f"{_day(period.first_day)}〜{_day(period.last_day)}",
    }


def _row(broadcast: Broadcast) -> dict[str, Any]:
    tz = current_services().settings.tz
    return {
        "id": broadcast.id,
        "title": broadcast.title,
        "state": STATE_LABELS.get(broadcast.state.value, broadcast.state.value),
        "state_key": broadcast.state.value,
        "scheduled_at": local_time(broadcast.scheduled_at, tz),
        "audience": broadcast.audience,
        "segment": broadcast.segment or "友だち全員",
        "by": broadcast.created_by,
    }


@login_required
def broadcasts() -> ResponseReturnValue:
    rows = [_row(b) for b in service.recent(web.db_session(), LIST_ROWS)]
    return render_template("console/broadcasts.html", rows=rows)


@login_required
def broadcast_detail(broadcast_id: int) -> ResponseReturnValue:
    broadcast = web.get_or_404(Broadcast, broadcast_id, "配信が見つかりません。")
    progress = service.progress(web.db_session(), broadcast.id)
    tz = current_services().settings.tz
    outcomes = [
        (OUTCOME_LABELS.get(state, state), n)
        for state, n in sorted(
            progress.by_state.items(),
            key=lambda kv: list(OUTCOME_LABELS).index(kv[0]) if kv[0] in OUTCOME_LABELS else 99,
        )
    ]
    reasons = [
        (OUTCOME_LABELS.get(state, state), REASON_LABELS.get(reason, reason), n)
        for (state, reason), n in sorted(progress.reasons.items())
    ]
    return render_template(
        "console/broadcast.html",
        b=_row(broadcast),
        broadcast=broadcast,
        outcomes=outcomes,
        reasons=reasons,
        total=progress.total,
        batches=progress.batches,
        preview=_preview(broadcast.message),
        started_at=local_time(broadcast.started_at, tz),
        finished_at=local_time(broadcast.finished_at, tz),
        cancellable=broadcast.state is BroadcastState.SCHEDULED,
        insight=_insight(broadcast),
    )
