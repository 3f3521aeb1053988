"""Console FAQ pages: the entries with their figures, the questions the bot did not resolve, and
a box to try what the bot would answer.

Who may do what: every signed-in staff member sees all of it, tries texts, sets unresolved
questions aside and suggests the entry a question belongs to; only admins create, edit and
delete entries and add questions to them as variants (that changes what the bot answers at
once, for every shopper).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from bot.console import faq_insights as insights
from bot.console import web
from bot.console.present import local_time
from bot.console.security import admin_required, current_operator, login_required
from bot.core.services import current_services
from bot.faq import store as faq_store
from bot.faq.analyzer import default_analyzer
from bot.faq.file_format import FaqEntry
from bot.faq.handlers import NO_MATCH
from bot.faq.matcher import FaqMatcher
from bot.faq.normalize import analysis_text
from bot.faq.store import FaqCache, FaqEditConflict, FaqEditError
from bot.models import FaqInteraction

log = logging.getLogger(__name__)

PERIODS = (7, 30, 90, 365)  # days the unresolved list can look back
DEFAULT_PERIOD = 30
MAX_GROUPS = 100  # groups shown on one page
MAX_SEARCH_CHARS = 200
MAX_TRY_CHARS = 5000  # a LINE text message holds at most 5,000 characters
OUTCOME_LABELS = {
    "answer": "回答する",
    "suggest": "「もしかして」で候補を出す",
    "none": "「分かりません」と答える",
    "human": "担当者につなぐ",
}
BAD_IDS = "対象の質問の指定が正しくありません。画面を更新してやり直してください。"
CONCURRENT = "ほかの人が同時にFAQを更新しました。画面を更新してやり直してください。"
ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def register(bp: Blueprint) -> None:
    """Add the FAQ routes to the console blueprint (endpoints are the function names)."""
    bp.get("/faq")(faq_entries)
    bp.get("/faq/export")(faq_export)
    bp.get("/faq/new")(faq_entry_new)
    bp.post("/faq/new")(faq_entry_create)
    bp.get("/faq/entries/<faq_id>")(faq_entry)
    bp.post("/faq/entries/<faq_id>")(faq_entry_save)
    bp.post("/faq/entries/<faq_id>/delete")(faq_entry_delete)
    bp.get("/faq/unresolved")(faq_unresolved)
    bp.post("/faq/unresolved/variant")(faq_unresolved_variant)
    bp.post("/faq/unresolved/suggest")(faq_unresolved_suggest)
    bp.post("/faq/unresolved/dismiss")(faq_unresolved_dismiss)
    bp.get("/faq/try")(faq_try)
    bp.post("/faq/try")(faq_try)


# -- helpers -----------------------------------------------------------------------------------


def _cache() -> FaqCache:
    services = current_services()
    if services.faq_cache is None:  # every app built by create_app has one
        services.faq_cache = FaqCache()
    return services.faq_cache


def _matcher() -> FaqMatcher:
    return _cache().matcher(web.db_session())


def _changed() -> None:
    """After an edit: this process rebuilds at its next match, the others within seconds."""
    _cache().invalidate()


def _tz():  # noqa: ANN202 - a ZoneInfo
    return current_services().settings.tz


def _form_text(name: str, limit: int, what: str) -> str:
    value = request.form.get(name, "")
    if len(value) > limit:
        abort(400, description=f"{what}は{limit:,}文字以内にしてください。")
    return value


def _ids(raw: str) -> list[int]:
    """Question ids from a comma-separated form or query value; 400 if any is malformed."""
    parts = [p for p in raw.split(",") if p.strip()]
    if len(parts) > insights.MAX_ROWS:
        abort(400, description=BAD_IDS)
    return [web.row_id(p.strip(), BAD_IDS) for p in parts]


def _period() -> int:
    raw = request.values.get("days", "")
    if not raw:
        return DEFAULT_PERIOD
    if raw not in {str(d) for d in PERIODS}:
        abort(400, description="期間は 7・30・90・365 日のいずれかを選んでください。")
    return int(raw)


def _rate(stats: insights.EntryStats | None) -> str:
    if stats is None or stats.rate is None:
        return "—"
    return f"{stats.rate * 100:.0f}%"


def _entry_or_404(faq_id: str) -> FaqEntry:
    # An id the file format cannot hold (a NUL, say) is looked up nowhere: the database
    # would refuse some such values with an error instead of finding nothing.
    if len(faq_id) > faq_store.MAX_ID_LENGTH or not ID_RE.match(faq_id):
        abort(404, description="FAQ項目が見つかりません。")
    entry = faq_store.get_entry(web.db_session(), faq_id)
    if entry is None:
        abort(404, description="FAQ項目が見つかりません。")
    return entry


# -- entries -----------------------------------------------------------------------------------


@login_required
def faq_entries() -> ResponseReturnValue:
    db = web.db_session()
    query = request.args.get("q", "").strip()
    if len(query) > MAX_SEARCH_CHARS:
        abort(400, description=f"検索語は{MAX_SEARCH_CHARS}文字以内にしてください。")
    entries = all_entries = faq_store.load_entries(db)
    if query:
        needle = query.casefold()
        entries = [
            e
            for e in entries
            if any(
                needle in part.casefold()
                for part in (e.id, e.question, e.answer, e.category or "", *e.variants, *e.keywords)
            )
        ]
    stats = insights.entry_stats(db)
    tz = _tz()
    rows = [
        {
            "entry": e,
            "stats": stats.get(e.id, insights.EntryStats()),
            "rate": _rate(stats.get(e.id)),
            "last": local_time(stats[e.id].last_at, tz) if e.id in stats else "",
        }
        for e in entries
    ]
    return render_template(
        "console/faq_entries.html",
        rows=rows,
        query=query,
        total=len(all_entries),
    )


@login_required
def faq_export() -> ResponseReturnValue:
    """The FAQ as YAML in the import format (for `flask faq import` or a backup)."""
    text = faq_store.export_yaml(web.db_session())
    return Response(
        text,
        mimetype="application/x-yaml",
        headers={"Content-Disposition": 'attachment; filename="faq.yaml"'},
    )


def _entry_form(
    entry: FaqEntry | None,
    *,
    is_new: bool,
    error: str | None = None,
    values: dict[str, str] | None = None,
    updated_at: str = "",
    from_ids: str = "",
    status: int = 200,
) -> ResponseReturnValue:
    db = web.db_session()
    if values is None:
        values = {
            "faq_id": entry.id if entry else "",
            "category": (entry.category or "") if entry else "",
            "question": entry.question if entry else "",
            "variants": "\n".join(entry.variants) if entry else "",
            "keywords": "\n".join(entry.keywords) if entry else "",
            "answer": entry.answer if entry else "",
        }
    stats = None
    if entry is not None and not is_new:
        stats = insights.entry_stats(db).get(entry.id, insights.EntryStats())
    page = render_template(
        "console/faq_entry.html",
        entry=entry,
        is_new=is_new,
        values=values,
        error=error,
        stats=stats,
        rate=_rate(stats),
        last=local_time(stats.last_at, _tz()) if stats else "",
        updated_at=updated_at,
        from_ids=from_ids,
        limits={
            "answer": faq_store.MAX_ANSWER_CHARS,
            "question": faq_store.MAX_QUESTION_CHARS,
            "category": faq_store.MAX_CATEGORY_CHARS,
            "id": faq_store.MAX_ID_LENGTH,
        },
    )
    return page, status


@login_required
def faq_entry(faq_id: str) -> ResponseReturnValue:
    entry = _entry_or_404(faq_id)
    row = faq_store.entry_row(web.db_session(), faq_id)
    return _entry_form(entry, is_new=False, updated_at=row.updated_at.isoformat() if row else "")


@admin_required
def faq_entry_new() -> ResponseReturnValue:
    """The form for a new entry; `from` (a question id) fills in the question."""
    question = ""
    from_ids = ",".join(str(i) for i in _ids(request.args.get("ids", "")))
    if request.args.get("from"):
        row = web.get_or_404(
            FaqInteraction,
            web.row_id(request.args["from"], BAD_IDS),
            "元の質問が見つかりません。",
        )
        question = (row.text or "")[: faq_store.MAX_QUESTION_CHARS]
    values = {
        "faq_id": "",
        "category": "",
        "question": question,
        "variants": "",
        "keywords": "",
        "answer": "",
    }
    return _entry_form(None, is_new=True, values=values, from_ids=from_ids)


def _submitted() -> dict[str, str]:
    limits = {
        "faq_id": 200,
        "category": 1000,
        "question": 2000,
        "variants": 100_000,
        "keywords": 10_000,
        "answer": 20_000,
    }
    names = {
        "faq_id": "ID",
        "category": "カテゴリ",
        "question": "質問",
        "variants": "言い換え",
        "keywords": "キーワード",
        "answer": "回答",
    }
    return {key: _form_text(key, limit, names[key]) for key, limit in limits.items()}


def _validated(values: dict[str, str]) -> FaqEntry:
    return faq_store.validate_entry(
        values["faq_id"],
        values["question"],
        values["variants"].splitlines(),
        values["keywords"].splitlines(),
        values["answer"],
        values["category"],
    )


@admin_required
def faq_entry_create() -> ResponseReturnValue:
    db = web.db_session()
    values = _submitted()
    from_ids = _form_text("from_ids", 30_000, "対象の質問")
    ids = _ids(from_ids)
    try:
        entry = _validated(values)
        faq_store.create_entry(db, entry, web.now())
        if ids:
            insights.review_questions(db, ids, "entry", current_operator().id, web.now(), entry.id)
        db.commit()
    except FaqEditError as exc:
        db.rollback()
        return _entry_form(
            None, is_new=True, error=str(exc), values=values, from_ids=from_ids, status=400
        )
    except IntegrityError:
        db.rollback()  # the first FAQ row of all, created by two people at once
        abort(409, description=CONCURRENT)
    _changed()
    log.info("faq entry created", extra={"faq_id": entry.id, "admin": current_operator().id})
    flash(f"FAQ項目「{entry.id}」を作成しました。ボットはすぐにこの内容で回答します。", "info")
    return redirect(url_for("console.faq_entry", faq_id=entry.id), code=303)


def _seen_updated_at(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        abort(400, description="フォームが正しくありません。画面を開き直してください。")


@admin_required
def faq_entry_save(faq_id: str) -> ResponseReturnValue:
    db = web.db_session()
    current = _entry_or_404(faq_id)
    values = {**_submitted(), "faq_id": faq_id}  # the id of an entry does not change
    seen = _form_text("updated_at", 100, "更新日時")
    try:
        entry = _validated(values)
        faq_store.update_entry(db, entry, web.now(), _seen_updated_at(seen))
    except FaqEditError as exc:
        db.rollback()
        status = 409 if isinstance(exc, FaqEditConflict) else 400
        return _entry_form(
            current, is_new=False, error=str(exc), values=values, updated_at=seen, status=status
        )
    db.commit()
    _changed()
    log.info("faq entry updated", extra={"faq_id": faq_id, "admin": current_operator().id})
    flash("保存しました。ボットはすぐにこの内容で回答します。", "info")
    return redirect(url_for("console.faq_entry", faq_id=faq_id), code=303)


@admin_required
def faq_entry_delete(faq_id: str) -> ResponseReturnValue:
    db = web.db_session()
    _entry_or_404(faq_id)
    try:
        faq_store.delete_entry(db, faq_id, web.now())
    except FaqEditConflict as exc:
        db.rollback()
        abort(409, description=str(exc))
    db.commit()
    _changed()
    log.info("faq entry deleted", extra={"faq_id": faq_id, "admin": current_operator().id})
    flash(f"FAQ項目「{faq_id}」を削除しました。", "info")
    return redirect(url_for("console.faq_entries"), code=303)


# -- unresolved questions ------------------------------------------------------------------------


def _features(text: str) -> dict[str, float]:
    return default_analyzer().features(analysis_text(text))


@login_required
def faq_unresolved() -> ResponseReturnValue:
    db = web.db_session()
    days = _period()
    questions = insights.unresolved_questions(db, web.now() - timedelta(days=days))
    groups = insights.group_questions(questions, _features)
    shown = groups[:MAX_GROUPS]
    matcher = _matcher()
    entries = matcher.entries
    by_id = {e.id: e for e in entries}
    known = by_id.keys()
    tz = _tz()
    views = []
    for group in shown:
        # Preselect the entry an operator suggested, else the bot's own best guess.
        guess = next((f for f in group.suggested if f in known), None)
        if guess is None:
            candidates = matcher.ask(group.text).candidates
            guess = candidates[0].faq_id if candidates else None
        views.append(
            {
                "group": group,
                "ids": ",".join(str(i) for i in group.ids),
                "first": local_time(group.first_at, tz),
                "last": local_time(group.last_at, tz),
                "guess": guess,
                "guess_question": by_id[guess].question if guess in by_id else "",
            }
        )
    return render_template(
        "console/faq_unresolved.html",
        groups=views,
        hidden=len(groups) - len(shown),
        question_count=len(questions),
        entries=entries,
        days=days,
        periods=PERIODS,
    )


def _back_to_unresolved() -> Response:
    days = request.form.get("days", "")
    target = {"days": int(days)} if days in {str(d) for d in PERIODS} else {}
    return redirect(url_for("console.faq_unresolved", **target), code=303)


def _chosen_entry() -> str:
    faq_id = request.form.get("faq_id", "")
    if not faq_id or faq_store.get_entry(web.db_session(), faq_id) is None:
        abort(400, description="追加先のFAQ項目を選んでください（削除された可能性があります）。")
    return faq_id


def _group_ids() -> list[int]:
    ids = _ids(_form_text("ids", 30_000, "対象の質問"))
    if not ids:
        abort(400, description=BAD_IDS)
    return ids


@admin_required
def faq_unresolved_variant() -> ResponseReturnValue:
    """Add a question (as edited by the admin) to an entry's variants; the group is done."""
    db = web.db_session()
    ids = _group_ids()
    faq_id = _chosen_entry()
    text = _form_text("text", 2000, "質問")
    try:
        added = faq_store.add_variant(db, faq_id, text, web.now())
    except FaqEditError as exc:
        db.rollback()
        abort(409 if isinstance(exc, FaqEditConflict) else 400, description=str(exc))
    insights.review_questions(db, ids, "variant", current_operator().id, web.now(), faq_id)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        abort(409, description=CONCURRENT)
    if added:
        _changed()
        log.info("faq variant added", extra={"faq_id": faq_id, "admin": current_operator().id})
        flash(
            f"「{faq_id}」の言い換えに追加しました。ボットはすぐにこの言い方にも回答します。",
            "info",
        )
    else:
        flash(f"この言い方は「{faq_id}」にすでに登録されています。一覧から外しました。", "info")
    return _back_to_unresolved()


@login_required
def faq_unresolved_suggest() -> ResponseReturnValue:
    """An operator's suggestion: these questions belong to that entry (an admin decides)."""
    db = web.db_session()
    ids = _group_ids()
    faq_id = _chosen_entry()
    count = insights.review_questions(
        db, ids, "suggested", current_operator().id, web.now(), faq_id
    )
    db.commit()
    flash(f"{count}件の質問に「{faq_id}」を提案しました。管理者が確認します。", "info")
    return _back_to_unresolved()


@login_required
def faq_unresolved_dismiss() -> ResponseReturnValue:
    db = web.db_session()
    ids = _group_ids()
    count = insights.review_questions(db, ids, "dismissed", current_operator().id, web.now())
    db.commit()
    flash(f"{count}件の質問を一覧から外しました。", "info")
    return _back_to_unresolved()


# -- try ---------------------------------------------------------------------------------------


@login_required
def faq_try() -> ResponseReturnValue:
    """What the bot would answer to a text, with the scores (nothing is recorded or sent)."""
    text = request.form.get("text", "") if request.method == "POST" else ""
    if len(text) > MAX_TRY_CHARS:
        abort(400, description=f"試す文章は{MAX_TRY_CHARS:,}文字以内にしてください。")
    outcome = None
    if text.strip():
        matcher = _matcher()
        result = matcher.ask(text)
        by_id = {e.id: e for e in matcher.entries}
        outcome = {
            "result": result,
            "label": OUTCOME_LABELS.get(result.outcome, result.outcome),
            "entry": by_id.get(result.faq_id) if result.faq_id else None,
            "candidates": [(c, by_id.get(c.faq_id)) for c in result.candidates],
            "no_match": NO_MATCH,
        }
    elif request.method == "POST":
        abort(400, description="試す文章を入力してください。")
    return render_template(
        "console/faq_try.html",
        text=text,
        outcome=outcome,
        version=_cache().version,
        max_chars=MAX_TRY_CHARS,
    )
