"""The report's channel dimension: each step variant's messages, clicks and attributed orders
split by the channel they went by (LINE, e-mail, SMS)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from bot.models import Click, Conversion, Delivery
from bot.report import queries as q


def channel_figures(session: Session, period: q.Period) -> dict[q.Key, dict[str, dict[str, Any]]]:
    """Step variant → channel → sent, clicked (unique shoppers), orders and revenue."""
    out: dict[q.Key, dict[str, dict[str, Any]]] = {}

    def line(scenario: str, step: str, variant: str | None, channel: str) -> dict[str, Any]:
        per_key = out.setdefault((scenario, step, variant), {})
        return per_key.setdefault(
            channel or "line", {"sent": 0, "clicked": 0, "orders": 0, "revenue": 0}
        )

    key = (Delivery.scenario_id, Delivery.step_id, Delivery.variant, Delivery.channel)
    sent_in_period = q._in_period_sent(period)
    for *k, count in session.execute(
        select(*key, func.count()).where(sent_in_period).group_by(*key)
    ):
        line(*k)["sent"] = int(count)
    who = func.coalesce(Click.shopper_id, Delivery.shopper_id)
    for *k, count in session.execute(
        select(*key, func.count(distinct(who)))
        .join(Click, Click.delivery_id == Delivery.id)
        .where(sent_in_period)
        .group_by(*key)
    ):
        line(*k)["clicked"] = int(count)
    links = q._conversion_deliveries(session, period)
    for *k, orders, revenue in session.execute(
        select(*key, func.count(Conversion.id), func.coalesce(func.sum(Conversion.amount), 0))
        .join(links, links.c.delivery_id == Delivery.id)
        .join(Conversion, Conversion.id == links.c.conversion_id)
        .where(sent_in_period)
        .group_by(*key)
    ):
        figures = line(*k)
        figures["orders"], figures["revenue"] = int(orders), int(revenue)
    return out
