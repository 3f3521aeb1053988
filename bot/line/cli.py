"""`flask webhooks ...`: see which LINE webhook events failed and handle them again."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from bot.core.services import current_services
from bot.line.jobs import replay_failed_webhook_events
from bot.line.webhook_events import failed_events

webhooks_cli = AppGroup("webhooks", help="LINE webhook events: list failed ones, retry them.")


@webhooks_cli.command("failed")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def failed_command(limit: int) -> None:
    """Failed events, newest first: id, type, LINE user, time received, error."""
    rows = failed_events(current_services().db.session(), limit)
    if not rows:
        click.echo("no failed webhook events")
    for row in rows:
        when = row.received_at.isoformat(timespec="seconds").replace("+00:00", "Z")
        error = (row.error or "").splitlines()[0] if row.error else ""
        click.echo(
            f"{row.id:>8}  {row.event_type:<12}  {row.line_user_id or '-':<33}  {when}  {error}"
        )


@webhooks_cli.command("retry")
@click.argument("event_ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Every failed event.")
def retry_command(event_ids: tuple[int, ...], retry_all: bool) -> None:
    """Handle failed events again (after fixing what made them fail)."""
    if bool(event_ids) == retry_all:
        raise click.UsageError("give event ids or --all")
    ids = replay_failed_webhook_events(current_services(), None if retry_all else list(event_ids))
    if not ids:
        click.echo("nothing to retry: no such failed event")
        return
    click.echo(f"queued {len(ids)} event(s) for handling: {' '.join(map(str, ids))}")
