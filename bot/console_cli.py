"""`flask operators ...`: console accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from bot.extensions import services
from bot.models import OperatorRole
from bot.services.operators import OperatorError, create_operator


@click.group("operators")
def operators_group() -> None:
    """Operator console accounts."""


@operators_group.command("create")
@click.argument("email")
@click.option("--name", required=True, help="表示名（例: 佐藤）")
@click.option(
    "--role",
    type=click.Choice([role.value for role in OperatorRole]),
    default=OperatorRole.OPERATOR.value,
    show_default=True,
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_command(email: str, name: str, role: str, password_stdin: bool) -> None:
    """Create a console account; prompts for the password unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    svc = services()
    session = svc.db.session()
    try:
        operator = create_operator(
            session, email, name, password, OperatorRole(role), svc.clock.now()
        )
    except OperatorError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"created {operator.role.value} {operator.email} (id {operator.id})")
