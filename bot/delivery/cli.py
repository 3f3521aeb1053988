"""`flask deliveries ...`: look at a member's deliveries and replay a failed one."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy import select

from bot.core.services import current_services
from bot.delivery import engine as deliveries
from bot.models import Delivery, Shopper

# `health` is added to this group by bot/cli.py (it reports on more than deliveries).
deliveries_cli = AppGroup("deliveries", help="Step deliveries: list, retry, health.")


@deliveries_cli.command("list")
@click.option("--member", "member_id", help="The shop's member id.")
@click.option("--line-user", "line_user_id", help="Or the LINE user id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(member_id: str | None, line_user_id: str | None, as_json: bool) -> None:
    """What is pending, sent, and why something was skipped or cancelled."""
    if not member_id and not line_user_id:
        raise click.UsageError("give --member M123 or --line-user U...")
    session = current_services().db.session()
    column = Shopper.member_id if member_id else Shopper.line_user_id
    shopper = session.scalars(select(Shopper).where(column == (member_id or line_user_id))).first()
    if shopper is None:
        raise click.ClickException("no shopper with that id (is the member linked?)")
    rows = deliveries.member_deliveries(session, shopper)
    flows = deliveries.member_flows(session, shopper)
    if as_json:
        click.echo(json.dumps({"deliveries": rows, "flows": flows}, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no deliveries")
    for row in rows:
        when = row["sent_at"] or row["due_at"]
        variant = f"@{row['variant']}" if row["variant"] else ""
        click.echo(
            f"{row['id']:>8}  {row['state']:<9}  {when[:16]}  {row['scenario']}/{row['step']}"
            f"{variant}  {row['reason'] or ''}"
        )
    for flow in flows:
        if flow["end_reason"] and flow["end_reason"].startswith("cooldown"):
            click.echo(f"  flow {flow['scenario']} {flow['subject']}: {flow['end_reason']}")


@deliveries_cli.command("retry")
@click.argument("delivery_id", type=int)
def retry_command(delivery_id: int) -> None:
    """Send a failed delivery again now (after fixing what made it fail)."""
    services = current_services()
    session = services.db.session()
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise click.ClickException(f"no delivery {delivery_id}")
    try:
        deliveries.retry_delivery(session, delivery, services.clock.now())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"delivery {delivery_id} is pending again; the dispatcher sends it on its next tick")
