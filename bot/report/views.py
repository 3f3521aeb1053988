"""The console's 「配信レポート」: the page (admins and operators), its JSON and CSV, and the
admin's promotion of an A/B winner. A blueprint of its own under /console/report with the
console's hooks (sign-in, CSRF, strict CSP and headers)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from bot.console import web
from bot.console.security import admin_required, current_operator, login_required
from bot.core.services import current_services
from bot.delivery.insights import HIDDEN_TEXT
from bot.delivery.receivers import delivery_rules
from bot.report import charts, service
from flex_templates.builders import CART_SURVEY_REASONS

__all__ = ["init_app", "make_blueprint"]

REASONS = {
    "holdout": "ホールドアウト",
    "quiet_hours": "夜間停止",
    "daily_cap": "1日の上限",
    "max_messages": "フローの上限",
    "superseded": "後のステップと重複",
    "opted_out": "配信停止中",
    "unfollowed": "ブロック中",
    "ordered": "購入済み",
    "cart cleared": "カゴが空",
    "expired": "期限切れ",
    "cooldown": "同じ商品を通知済み",
}


# Answers to the abandoned-cart question: the stored codes as the quick replies said them.
REASON_LABELS = {**CART_SURVEY_REASONS, "unanswered": "未回答"}
BAND_LABELS = {
    "under_3000": "3,000円未満",
    "3000_4999": "3,000〜4,999円",
    "5000_9999": "5,000〜9,999円",
    "10000_plus": "10,000円以上",
    "unknown": "不明",
}


def make_blueprint() -> Blueprint:
    bp = Blueprint(
        "report",
        __name__,
        url_prefix="/console/report",
        template_folder="templates",
        static_folder="static",
    )
    web.install_hooks(bp)
    bp.get("")(delivery_report)
    bp.get("/data.json")(delivery_report_json)
    bp.get("/deliveries.csv")(delivery_report_csv)
    bp.post("/promote")(promote)
    bp.post("/withdraw")(withdraw)
    return bp


def init_app(app: Flask) -> None:
    """Register the report pages and show them in the console's menu."""
    app.register_blueprint(make_blueprint())
    app.jinja_env.globals["report_nav"] = True


def _day(name: str) -> date | None:
    raw = (request.values.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, description="日付はYYYY-MM-DDの形で指定してください。")


def _report() -> dict[str, Any]:
    try:
        return service.report(current_services(), _day("from"), _day("to"))
    except ValueError:
        abort(400, description="期間の開始日が終了日より後になっています。")


def _opened_text(row: dict[str, Any]) -> str:
    if row["opened_status"] == "hidden":
        return HIDDEN_TEXT
    if row["opened"] is None:
        return "未取得"
    suffix = "以上" if row["opened_status"] == "partial" else ""
    prefix = "延べ" if row["opened_counted"] == "person_days" else ""
    return f"{prefix}{row['opened']:,}{suffix}"


CHANNEL_LABELS = {"line": "LINE", "email": "メール", "sms": "SMS"}


def _by_channel(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per scenario, its step rows split by channel; only scenarios that sent anything by
    e-mail or SMS (a LINE-only scenario's table already says it all)."""
    off_line = {row["scenario"] for row in rows if set(row["channels"]) - {"line"}}
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["scenario"] not in off_line:
            continue
        for channel, label in CHANNEL_LABELS.items():
            figures = row["channels"].get(channel)
            if figures:
                out.setdefault(row["scenario"], []).append(
                    {"step": row["step"], "variant": row["variant"], "channel": label, **figures}
                )
    return out


@login_required
def delivery_report() -> ResponseReturnValue:
    data = _report()
    charts_by_scenario = {}
    for scenario in data["scenarios"]:
        days = scenario["daily"]
        charts_by_scenario[scenario["scenario"]] = [
            (caption, chart)
            for caption, chart in zip(
                ("日別送信数", "日別クリック（人）", "日別回復売上"),
                [
                    charts.bar_chart(
                        [(d["day"], d["sent"]) for d in days],
                        title=f"{scenario['title']}：日別送信数",
                    ),
                    charts.bar_chart(
                        [(d["day"], d["clicked"]) for d in days],
                        title=f"{scenario['title']}：日別クリック（人）",
                        color="#2f80ed",
                    ),
                    charts.bar_chart(
                        [(d["day"], d["revenue"]) for d in days],
                        title=f"{scenario['title']}：日別回復売上",
                        unit="yen",
                        color="#f2994a",
                    ),
                ],
                strict=True,
            )
        ]
    funnels = {}
    for row in data["rows"]:
        if row["variant"] is None or row["planned"] or row["sent"]:
            key = (row["scenario"], row["step"], row["variant"])
            funnels[key] = charts.funnel(
                [
                    ("予定", row["planned"]),
                    ("送信", row["sent"]),
                    ("開封", row["opened"]),
                    ("クリック", row["clicked"]),
                    ("注文", row["converted"]),
                ],
                title=f"{row['scenario']} {row['step']} {row['variant'] or ''} のファネル",
            )
    return render_template(
        "report/deliveries.html",
        data=data,
        charts=charts_by_scenario,
        funnels=funnels,
        by_channel=_by_channel(data["rows"]),
        opened_text=_opened_text,
        reasons=REASONS,
        reason_labels=REASON_LABELS,
        band_labels=BAND_LABELS,
        hidden_text=HIDDEN_TEXT,
    )


@login_required
def delivery_report_json() -> ResponseReturnValue:
    return jsonify(_report())


@login_required
def delivery_report_csv() -> ResponseReturnValue:
    data = _report()
    name = f"delivery-report-{data['period']['from']}-{data['period']['to']}.csv"
    return Response(
        service.to_csv(data),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@admin_required
def promote() -> ResponseReturnValue:
    """Promote a 「勝ちパターン」: only a variant the report's interval names as winner."""
    scenario_id = request.form.get("scenario", "")
    step_id = request.form.get("step", "")
    variant = request.form.get("variant", "")
    data = _report()
    test = next(
        (t for t in data["ab_tests"] if t["scenario"] == scenario_id and t["step"] == step_id),
        None,
    )
    comparison = next(
        (c for c in (test or {}).get("comparisons", []) if c["winner"] == variant), None
    )
    if test is None or comparison is None:
        abort(
            409, description="このパターンは信頼区間で勝ちと判定されていないため、昇格できません。"
        )
    interval = comparison["cvr_difference"]
    evidence = (
        f"{data['period']['from']}〜{data['period']['to']}: {comparison['variant']} − "
        f"{comparison['control']} CVR差 {interval['estimate']:+.4f} "
        f"(95%CI {interval['low']:+.4f}〜{interval['high']:+.4f})"
    )
    session = web.db_session()
    try:
        service.promote_winner(
            session,
            delivery_rules().book,
            scenario_id=scenario_id,
            step_id=step_id,
            variant=variant,
            operator=current_operator(),
            evidence=evidence,
            now=web.now(),
        )
    except service.PromotionRefused as exc:
        abort(400, description=str(exc))
    session.commit()
    flash(
        f"{scenario_id} / {step_id} のパターン「{variant}」を勝ちパターンとして昇格しました。", "ok"
    )
    return _back_to_report()


@admin_required
def withdraw() -> ResponseReturnValue:
    """Withdraw a promotion: the step's A/B split of the scenario file applies again."""
    scenario_id = request.form.get("scenario", "")
    step_id = request.form.get("step", "")
    session = web.db_session()
    try:
        row = service.withdraw_promotion(
            session, scenario_id=scenario_id, step_id=step_id, operator=current_operator()
        )
    except service.PromotionRefused as exc:
        abort(409, description=str(exc))
    session.commit()
    flash(
        f"{scenario_id} / {step_id} の「{row.variant}」の昇格を取り消しました。"
        "新しい配信はシナリオファイルの配分に戻ります。",
        "ok",
    )
    return _back_to_report()


def _back_to_report() -> ResponseReturnValue:
    return redirect(
        url_for(
            "report.delivery_report", **{k: v for k in ("from", "to") if (v := request.form.get(k))}
        )
    )
