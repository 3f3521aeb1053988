"""The report for the running service: its scenario file, clock, time zone and LINE's quota;
CSV export; and promoting an A/B winner."""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.services import Services
from bot.delivery.receivers import delivery_rules
from bot.delivery.scenarios import ScenarioBook
from bot.line.gateway import LineError
from bot.models import Operator, VariantPromotion
from bot.report.build import QuotaReading, build_report
from bot.report.queries import period_for

log = logging.getLogger(__name__)


def read_quota(services: Services) -> QuotaReading:
    """This month's messages from LINE (GET /v2/bot/message/quota and /quota/consumption)."""
    try:
        return QuotaReading(services.line.message_quota())
    except LineError as exc:
        log.warning("message quota unavailable", extra={"error": type(exc).__name__})
        return QuotaReading(None, "LINEから取得できませんでした")


def report(
    services: Services, first: date | None = None, last: date | None = None
) -> dict[str, Any]:
    """The delivery report of the period (default: the last 30 days in the shop's zone)."""
    now = services.clock.now()
    period = period_for(now, services.settings.tz, first, last)
    session = services.db.session()
    book = delivery_rules(services).book
    return build_report(session, book, period, now, read_quota(services))


CSV_COLUMNS = (
    "scenario",
    "scenario_title",
    "step",
    "variant",
    "unit",
    "planned",
    "sent",
    "pending",
    "failed",
    "skipped",
    "cancelled",
    "opened",
    "opened_status",
    "opened_counted",
    "clicked",
    "ctr",
    "converted",
    "orders",
    "cvr",
    "revenue",
    "revenue_per_message",
    "opt_outs_24h",
    "blocks_24h",
    "skipped_by_reason",
    "cancelled_by_reason",
)


def to_csv(data: dict[str, Any]) -> str:
    """One line per scenario step variant; reasons as `reason=count;…`; hidden opens empty
    with their status beside them (never 0)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*CSV_COLUMNS, "period_from", "period_to"])
    for row in data["rows"]:
        values = []
        for column in CSV_COLUMNS:
            value = row[column]
            if isinstance(value, dict):
                value = ";".join(f"{k}={v}" for k, v in value.items())
            values.append("" if value is None else value)
        writer.writerow([*values, data["period"]["from"], data["period"]["to"]])
    # A BOM so that Excel, which Japanese shops open CSV with, reads UTF-8.
    return "\ufeff" + out.getvalue()


class PromotionRefused(ValueError):
    """The variant cannot be promoted; the message says why, in Japanese."""


def promote_winner(
    session: Session,
    book: ScenarioBook,
    *,
    scenario_id: str,
    step_id: str,
    variant: str,
    operator: Operator,
    evidence: str | None,
    now: datetime,
) -> VariantPromotion:
    """Make `variant` the step's only arm from now on (weight 100), recording who and when."""
    scenario = book.get(scenario_id)
    step = next((s for s in scenario.steps if s.id == step_id), None) if scenario else None
    if step is None or variant not in {v.name for v in step.variants}:
        raise PromotionRefused("そのシナリオ・ステップ・パターンはありません。")
    row = session.scalars(
        select(VariantPromotion).where(
            VariantPromotion.scenario_id == scenario_id, VariantPromotion.step_id == step_id
        )
    ).first()
    if row is None:
        row = VariantPromotion(scenario_id=scenario_id, step_id=step_id)
        session.add(row)
    row.variant = variant
    row.promoted_by = operator.id
    row.promoted_by_name = operator.name
    row.promoted_at = now
    row.evidence = (evidence or "")[:400] or None
    session.flush()
    log.info(
        "variant promoted",
        extra={"scenario": scenario_id, "step": step_id, "variant": variant, "by": operator.id},
    )
    return row


def withdraw_promotion(
    session: Session, *, scenario_id: str, step_id: str, operator: Operator
) -> VariantPromotion:
    """Undo a promotion: new plans draw among the scenario file's weights again. Deliveries
    already planned keep their variant."""
    row = session.scalars(
        select(VariantPromotion).where(
            VariantPromotion.scenario_id == scenario_id, VariantPromotion.step_id == step_id
        )
    ).first()
    if row is None:
        raise PromotionRefused("このステップに昇格済みのパターンはありません。")
    session.delete(row)
    session.flush()
    log.info(
        "variant promotion withdrawn",
        extra={
            "scenario": scenario_id,
            "step": step_id,
            "variant": row.variant,
            "promoted_by": row.promoted_by,
            "by": operator.id,
        },
    )
    return row
