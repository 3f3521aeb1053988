"""The delivery report as one JSON-ready dict: the same figures for the console page, its
JSON and CSV, and `flask report deliveries`. The keys are documented in the README
("Results"); change them only with it."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.delivery.aggregation import aggregation_unit
from bot.delivery.scenarios import Scenario, ScenarioBook
from bot.line.gateway import MessageQuota
from bot.report import queries as q
from bot.report.channels import channel_figures
from bot.report.stats import Interval, newcombe_difference, sample_size_per_arm, welch_difference

NOTES = [
    "開封数はLINEの集計（吹き出し全体が表示された人数）による下限値です。"
    "既定の期間（直近30日）では、LINEが期間全体で重複を除いて数えた人数を表示します。"
    "それ以外の期間では1日ごとの人数の合計（「延べ」と表示、同じ人が2日にわたって開くと2人）です。"
    "20人未満の日はLINEが数値を出さないため「20人未満のため非表示」と表示し、0とは数えません。",
    "注文はシナリオの効果測定期間内に配信後の注文として記録されたものです。"
    "1件の注文が同じフローの複数のステップに数えられることがあります（シナリオ合計では1件）。",
    "返金・キャンセルの連絡はショップAPIにないため、売上から差し引いていません。",
    "配信停止は配信から24時間以内に、そのメッセージのチャネル（LINE・メール・SMS）で停止したものです。"
    "会員は同意の履歴から数えるため、あとで再開した人も数えます（会員でないLINEの友だちは現在の状態から）。"
    "ブロックはLINEのメッセージから24時間以内のもので、あとで友だちに戻った人も数えます。",
]


@dataclass(frozen=True)
class QuotaReading:
    """What LINE said about this month's messages, or why it could not be asked."""

    quota: MessageQuota | None
    error: str | None = None


def _ratio(part: int | float, whole: int | float) -> float | None:
    return round(part / whole, 6) if whole else None


def _interval(value: Interval | None, digits: int = 6) -> dict[str, float] | None:
    if value is None:
        return None
    return {
        "estimate": round(value.estimate, digits),
        "low": round(value.low, digits),
        "high": round(value.high, digits),
    }


def _opens(opens: q.Opens | None) -> dict[str, Any]:
    if opens is None:
        return {
            "opened": None,
            "opened_status": "not_fetched",
            "opened_hidden_days": 0,
            "opened_counted": None,
        }
    total = opens.total
    if total.known is None:
        status = "hidden"
    elif total.hidden_days:
        status = "partial"
    else:
        status = "ok"
    return {
        "opened": total.known,
        "opened_status": status,
        "opened_hidden_days": total.hidden_days,
        "opened_counted": "people" if opens.people else "person_days",
    }


def _line(scenario: Scenario | None, key: q.Key, fig: q.Figures, opens: q.Opens | None) -> dict:
    scenario_id, step_id, variant = key
    return {
        "scenario": scenario_id,
        "scenario_title": scenario.title if scenario else scenario_id,
        "step": step_id,
        "step_index": fig.step_index,
        "variant": variant,
        "unit": aggregation_unit(scenario_id, step_id, variant),
        "planned": fig.planned,
        "sent": fig.sent,
        "pending": fig.pending,
        "failed": fig.failed,
        "skipped": sum(fig.skipped.values()),
        "skipped_by_reason": dict(sorted(fig.skipped.items())),
        "cancelled": sum(fig.cancelled.values()),
        "cancelled_by_reason": dict(sorted(fig.cancelled.items())),
        **_opens(opens),
        "clicked": fig.clicked,
        "ctr": _ratio(fig.clicked, fig.sent),
        "converted": fig.converted,
        "orders": fig.orders,
        "cvr": _ratio(fig.converted, fig.sent),
        "revenue": fig.revenue,
        "revenue_per_message": _ratio(fig.revenue, fig.sent),
        "opt_outs_24h": fig.opt_outs,
        "blocks_24h": fig.blocks,
    }


def _keys(book: ScenarioBook, figures: dict[q.Key, q.Figures]) -> list[q.Key]:
    """Every step variant of the scenario file (with no traffic too), then any other found
    in the data (a step since removed from the file), in file order."""
    keys: list[q.Key] = []
    for scenario in book.scenarios:
        for step in scenario.steps:
            names = [v.name for v in step.variants] or [None]
            for name in names:
                keys.append((scenario.id, step.id, name))
                figures.setdefault((scenario.id, step.id, name), q.Figures(step_index=step.index))
    known = set(keys)
    extra = sorted(
        (k for k in figures if k not in known),
        key=lambda k: (k[0], figures[k].step_index, k[1], k[2] or ""),
    )
    return keys + extra


def _horizon(scenario: Scenario) -> timedelta:
    """How long after a flow's start its messages can still earn an order."""
    last_delay = max((step.delay for step in scenario.steps), default=timedelta(0))
    return last_delay + scenario.attribution_window


def _ab_tests(
    book: ScenarioBook,
    figures: dict[q.Key, q.Figures],
    promoted: dict[tuple[str, str], Any],
) -> list[dict[str, Any]]:
    tests = []
    for scenario in book.scenarios:
        for step in scenario.steps:
            if len(step.variants) < 2:
                continue
            arms = [(v.name, figures[(scenario.id, step.id, v.name)]) for v in step.variants]
            control_name, control = arms[0]
            comparisons = []
            for name, arm in arms[1:]:
                cvr = newcombe_difference(arm.converted, arm.sent, control.converted, control.sent)
                rpm = welch_difference(
                    arm.sent,
                    arm.revenue,
                    arm.revenue_sumsq,
                    control.sent,
                    control.revenue,
                    control.revenue_sumsq,
                )
                p_arm = arm.converted / arm.sent if arm.sent else None
                p_control = control.converted / control.sent if control.sent else None
                needed = (
                    sample_size_per_arm(p_arm, p_control)
                    if p_arm is not None and p_control is not None
                    else None
                )
                winner = None
                if cvr is not None and cvr.excludes_zero:
                    winner = name if cvr.estimate > 0 else control_name
                comparisons.append(
                    {
                        "variant": name,
                        "control": control_name,
                        "sent": arm.sent,
                        "control_sent": control.sent,
                        "cvr": _ratio(arm.converted, arm.sent),
                        "control_cvr": _ratio(control.converted, control.sent),
                        "cvr_difference": _interval(cvr),
                        "revenue_per_message_difference": _interval(rpm, 2),
                        "needed_per_arm": needed,
                        "still_needed_per_arm": (
                            max(0, needed - min(arm.sent, control.sent)) if needed else None
                        ),
                        "winner": winner,
                    }
                )
            winners = {c["winner"] for c in comparisons if c["winner"]}
            promotion = promoted.get((scenario.id, step.id))
            tests.append(
                {
                    "scenario": scenario.id,
                    "step": step.id,
                    "variants": [name for name, _ in arms],
                    "comparisons": comparisons,
                    "winner": winners.pop() if len(winners) == 1 else None,
                    "promoted": (
                        {
                            "variant": promotion.variant,
                            "by": promotion.promoted_by_name,
                            "at": promotion.promoted_at.isoformat(),
                        }
                        if promotion is not None
                        else None
                    ),
                }
            )
    return tests


def _messages(session: Session, reading: QuotaReading, period: q.Period, now: datetime) -> dict:
    tz = period.tz
    local = now.astimezone(tz)
    month_start = datetime.combine(local.date().replace(day=1), time(0), tz)
    days = calendar.monthrange(local.year, local.month)[1]
    month_end = month_start + timedelta(days=days)
    elapsed = (now - month_start).total_seconds()
    whole = (month_end - month_start).total_seconds()
    used = reading.quota.used if reading.quota else None
    limit = reading.quota.limit if reading.quota else None
    forecast = round(used * whole / elapsed) if used is not None and elapsed > 0 else None
    return {
        "month": f"{local:%Y-%m}",
        "used": used,
        "limit": limit,
        "forecast_month_end": forecast,
        "forecast_over_limit": (forecast is not None and limit is not None and forecast > limit),
        # Counted here only when LINE could not be asked: LINE's figure is the one that counts.
        "sent_by_engine_this_month": (
            q.sent_between(session, month_start, now) if reading.quota is None else None
        ),
        "error": reading.error,
    }


BAND_ORDER = [name for name, _ in q.VALUE_BANDS] + [q.TOP_BAND, q.UNKNOWN_BAND]


def _reasons(session: Session, period: q.Period) -> dict[str, Any]:
    """The abandoned-cart answers: totals, by week (Monday first) and by cart value band."""
    rows = q.survey_answers(session, period)
    totals: dict[str, int] = {}
    weeks: dict[str, dict[str, int]] = {}
    bands: dict[str, dict[str, int]] = {}
    for day, band, reason, n in rows:
        totals[reason] = totals.get(reason, 0) + n
        start = date.fromisoformat(day)
        week = (start - timedelta(days=start.weekday())).isoformat()
        weeks.setdefault(week, {})[reason] = weeks.get(week, {}).get(reason, 0) + n
        bands.setdefault(band, {})[reason] = bands.get(band, {}).get(reason, 0) + n
    asked = sum(totals.values())
    return {
        "asked": asked,
        "answered": asked - totals.get(q.UNANSWERED, 0),
        "by_reason": dict(sorted(totals.items(), key=lambda kv: -kv[1])),
        "by_week": [{"week": w, "counts": weeks[w]} for w in sorted(weeks)],
        "by_value_band": [{"band": b, "counts": bands[b]} for b in BAND_ORDER if b in bands],
    }


def build_report(
    session: Session,
    book: ScenarioBook,
    period: q.Period,
    now: datetime,
    quota: QuotaReading | None = None,
) -> dict[str, Any]:
    """Every figure of the delivery report for the period."""
    q.prepare(session)
    windows = [s.attribution_window for s in book.scenarios]
    period = replace(period, order_horizon=max(windows, default=period.order_horizon))
    sent_days: dict[tuple[str, str], int] = {}
    figures = q.delivery_states(session, period, sent_days)
    clicks_by_key, clicks_by_day = q.click_counts(session, period)
    for key, clicked in clicks_by_key.items():
        figures.setdefault(key, q.Figures()).clicked = clicked
    orders_read = q.order_figures(session, period)
    q.add_orders(session, period, figures, orders_read)
    opt_outs_by_channel = q.add_reactions(session, period, figures)
    keys = _keys(book, figures)
    opens = q.opens_by_unit(session, period, (aggregation_unit(*k) for k in keys))
    rows = [_line(book.get(k[0]), k, figures[k], opens.get(aggregation_unit(*k))) for k in keys]
    by_channel = channel_figures(session, period)
    for key, row in zip(keys, rows, strict=True):
        # line / email / sms: sent, clicks, orders, revenue, opt-outs within 24 h
        row["channels"] = by_channel.get(key, {})
        for channel, figures_of in row["channels"].items():
            figures_of["opt_outs_24h"] = opt_outs_by_channel.get((key, channel), 0)

    per_scenario = orders_read.by_scenario
    # Holdout lines for scenarios that hold shoppers out; abandoned carts for cart ones.
    cart_ids = {s.id for s in book.scenarios if s.trigger == "cart.updated"}
    flows = q.flow_counts(
        session,
        period,
        {s.id: _horizon(s) for s in book.scenarios if s.holdout or s.id in cart_ids},
    )
    series = q.daily(session, period, sent_days, clicks_by_day, orders_read)
    scenario_ids = list(dict.fromkeys([s.id for s in book.scenarios] + [k[0] for k in keys]))
    scenarios = []
    for scenario_id in scenario_ids:
        scenario = book.get(scenario_id)
        mine = [r for r in rows if r["scenario"] == scenario_id]
        sent = sum(r["sent"] for r in mine)
        orders, revenue = per_scenario.get(scenario_id, (0, 0))
        entry: dict[str, Any] = {
            "scenario": scenario_id,
            "title": scenario.title if scenario else scenario_id,
            "attribution_window_hours": (
                scenario.attribution_window.total_seconds() / 3600 if scenario else None
            ),
            "holdout_percent": scenario.holdout if scenario else 0.0,
            "planned": sum(r["planned"] for r in mine),
            "sent": sent,
            "skipped": sum(r["skipped"] for r in mine),
            "cancelled": sum(r["cancelled"] for r in mine),
            "clicked": sum(r["clicked"] for r in mine),
            "orders": orders,
            "revenue": revenue,
            "revenue_per_message": _ratio(revenue, sent),
            "opt_outs_24h": sum(r["opt_outs_24h"] for r in mine),
            "blocks_24h": sum(r["blocks_24h"] for r in mine),
            "daily": [
                {
                    "day": day.isoformat(),
                    **series.get(scenario_id, {}).get(
                        day.isoformat(), {"sent": 0, "clicked": 0, "revenue": 0}
                    ),
                }
                for day in period.days
            ],
            "holdout": None,
        }
        counts = flows.get(scenario_id)
        if scenario is not None and counts and (scenario.holdout or counts.holdout.flows):
            treated, held = counts.treated, counts.holdout
            diff = newcombe_difference(treated.ordered, treated.flows, held.ordered, held.flows)
            entry["holdout"] = {
                "treated_flows": treated.flows,
                "treated_ordered": treated.ordered,
                "treated_rate": treated.rate,
                "holdout_flows": held.flows,
                "holdout_ordered": held.ordered,
                "holdout_rate": held.rate,
                "incremental_rate": _interval(diff),
                "significant": bool(diff and diff.excludes_zero),
                "horizon_hours": _horizon(scenario).total_seconds() / 3600,
            }
        scenarios.append(entry)

    carts = q.FlowOutcome(
        sum(flows[sid].all.flows for sid in cart_ids if sid in flows),
        sum(flows[sid].all.ordered for sid in cart_ids if sid in flows),
    )
    orders, revenue = orders_read.account
    return {
        "period": {
            "from": period.first_day.isoformat(),
            "to": period.last_day.isoformat(),
            "timezone": period.tz.key,
        },
        "generated_at": now.isoformat(),
        "account": {
            "carts_abandoned": carts.flows,
            "carts_recovered": carts.ordered,
            "recovery_rate": carts.rate,
            "attributed_orders": orders,
            "recovered_revenue": revenue,
            "messages": _messages(session, quota or QuotaReading(None, None), period, now),
        },
        "scenarios": scenarios,
        "rows": rows,
        "ab_tests": _ab_tests(book, figures, q.promotions(session)),
        "abandonment_reasons": _reasons(session, period),
        "notes": NOTES,
    }
