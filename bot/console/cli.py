"""`flask operators ...`: console accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from bot.console.operators import OperatorError, create_operator, find_operator, set_password
from bot.core.services import current_services
from bot.models import OperatorRole


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
    password = _read_password(password_stdin)
    services = current_services()
    session = services.db.session()
    try:
        operator = create_operator(
            session,
            email,
            name,
            password,
            OperatorRole(role),
            services.clock.now(),
            hash_method=services.settings.password_hash_method,
        )
    except OperatorError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"created {operator.role.value} {operator.email} (id {operator.id})")


@operators_group.command("set-password")
@click.argument("email")
@click.option("--temporary", is_flag=True, help="Require a change at the next sign-in.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def set_password_command(email: str, temporary: bool, password_stdin: bool) -> None:
    """Set an account's password (e.g. the only admin forgot theirs); ends its sessions and
    lifts its lockout."""
    services = current_services()
    session = services.db.session()
    operator = find_operator(session, email)
    if operator is None:
        raise click.ClickException(f"no console account {email!r}")
    password = _read_password(password_stdin)
    try:
        set_password(
            session,
            operator,
            password,
            temporary=temporary,
            hash_method=services.settings.password_hash_method,
        )
    except OperatorError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    session.commit()
    note = " (to be changed at the next sign-in)" if temporary else ""
    click.echo(f"password set for {operator.email}{note}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)
