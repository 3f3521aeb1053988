"""`flask` commands of the service."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from bot.core.services import current_services


def register_cli(app: Flask) -> None:
    """Attach every command group to the app."""
    from bot.console.cli import operators_group
    from bot.delivery.cli import deliveries_cli
    from bot.faq.cli import faq_group
    from bot.health.cli import health_command
    from bot.line.cli import webhooks_cli
    from bot.report.cli import report_cli
    from bot.richmenu.cli import richmenu_group
    from flex_templates.cli import templates_cli

    deliveries_cli.add_command(health_command)
    app.cli.add_command(init_db_command)
    app.cli.add_command(templates_cli)
    app.cli.add_command(faq_group)
    app.cli.add_command(deliveries_cli)
    app.cli.add_command(operators_group)
    app.cli.add_command(webhooks_cli)
    app.cli.add_command(richmenu_group)
    app.cli.add_command(report_cli)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the schema with Alembic (same as `alembic upgrade head`)."""
    from bot.core.migrate import upgrade

    upgrade(current_services().settings.database_url)
    click.echo("database is at the latest migration")
