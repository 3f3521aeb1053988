"""`flask deliveries health`: what /healthz reports, for cron jobs and scripts."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from bot.core.services import current_services
from bot.health.liveness import FailedEventsCount, health_report


@click.command("health")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print JSON (what /healthz answers).")
def health_command(as_json: bool) -> None:
    """What /healthz reports; exits 1 when unhealthy (for cron jobs and scripts)."""
    services = current_services()
    healthy, report = health_report(services)
    if report["checks"].get("database") == "ok":
        report["failed_webhook_events"] = FailedEventsCount().get(services.db.session())
    if as_json:
        click.echo(json.dumps({"status": "ok" if healthy else "error", **report}, indent=2))
    else:
        click.echo(f"status      {'ok' if healthy else 'UNHEALTHY'}")
        for name, value in report["checks"].items():
            click.echo(f"{name:<11} {value}")
        age = report.get("dispatcher_age_seconds")
        if "oldest_due_age_seconds" in report:
            click.echo(
                "dispatcher last run: "
                + ("never" if age is None else f"{age:.0f} s ago")
                + f"; oldest late delivery: {report['oldest_due_age_seconds']:.0f} s"
                + f"; failed webhook events: {report['failed_webhook_events']}"
            )
            for name, seconds in report["periodic_jobs"].items():
                click.echo(f"  {name:<30} last run {seconds:.0f} s ago")
    if not healthy:
        raise SystemExit(1)
