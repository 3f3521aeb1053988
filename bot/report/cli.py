"""`flask report deliveries --from DATE --to DATE [--json]`: the console report's figures."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import click
from flask.cli import AppGroup

from bot.core.services import current_services
from bot.delivery.insights import HIDDEN_TEXT
from bot.report import service

report_cli = AppGroup("report", help="Results: the delivery report.")


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _opened(row: dict[str, Any]) -> str:
    if row["opened_status"] == "hidden":
        return HIDDEN_TEXT
    if row["opened"] is None:
        return "—"
    return f"{row['opened']}+" if row["opened_status"] == "partial" else str(row["opened"])


@report_cli.command("deliveries")
@click.option("--from", "first", help="First day (YYYY-MM-DD, shop time); default 29 days ago.")
@click.option("--to", "last", help="Last day (YYYY-MM-DD, shop time); default today.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON the console serves.")
def deliveries_command(first: str | None, last: str | None, as_json: bool) -> None:
    """Sent, opened, clicked, orders and revenue per scenario, step and variant."""
    try:
        data = service.report(current_services(), _day(first, "--from"), _day(last, "--to"))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    period = data["period"]
    account = data["account"]
    click.echo(f"配信レポート {period['from']} – {period['to']} ({period['timezone']})")
    click.echo(
        f"カゴ落ち {account['carts_abandoned']}件 / 回復 {account['carts_recovered']}件 "
        f"({_pct(account['recovery_rate'])}) / 回復売上 ¥{account['recovered_revenue']:,}"
    )
    messages = account["messages"]
    if messages["used"] is not None:
        limit = "上限なし" if messages["limit"] is None else f"{messages['limit']:,}"
        click.echo(
            f"今月の送信数 {messages['used']:,} / {limit}"
            f"（月末予測 {messages['forecast_month_end']:,}）"
        )
    click.echo(
        f"{'scenario/step/variant':<32} {'sent':>6} {'opened':>8} {'clicked':>7} {'CTR':>6} "
        f"{'orders':>6} {'CVR':>6} {'revenue':>10} {'optout':>6} {'block':>5}"
    )
    for row in data["rows"]:
        name = f"{row['scenario']}/{row['step']}" + (f"@{row['variant']}" if row["variant"] else "")
        click.echo(
            f"{name:<32} {row['sent']:>6} {_opened(row):>8} {row['clicked']:>7} "
            f"{_pct(row['ctr']):>6} {row['orders']:>6} {_pct(row['cvr']):>6} "
            f"{row['revenue']:>10,} {row['opt_outs_24h']:>6} {row['blocks_24h']:>5}"
        )
    why = data["abandonment_reasons"]
    if why["asked"]:
        counts = "、".join(f"{k} {v}" for k, v in why["by_reason"].items())
        click.echo(f"カゴ落ちの理由（質問 {why['asked']}件）: {counts}")
    for note in data["notes"][:1]:
        click.echo(f"※ {note}")


__all__ = ["report_cli"]
