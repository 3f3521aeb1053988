"""`flask richmenu apply FILE.yaml` and `flask richmenu status`."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from bot.core.services import Services, current_services
from bot.line.gateway import LineError
from bot.models import AppliedRichMenu
from bot.richmenu.apply import apply_menu_file
from bot.richmenu.file_format import MenuFile, RichMenuFileError, load_menu_file

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("richmenu")
def richmenu_group() -> None:
    """The shop's LINE rich menus."""


def read_menu_file(services: Services, path: Path) -> MenuFile:
    """The file, checked against LINE's rules and the bot's postback actions and link hosts."""
    router = services.router

    def known_action(action: str) -> bool:
        return router is not None and router.action_handler(action) is not None

    return load_menu_file(path, services.settings, known_action)


@richmenu_group.command("apply")
@click.argument("file", type=_FILE)
@click.option("--force", is_flag=True, help="Replace unchanged menus too.")
@click.option("--check", is_flag=True, help="Only check the file; send nothing to LINE.")
@with_appcontext
def apply_command(file: Path, force: bool, check: bool) -> None:
    """Create the menus of FILE on LINE, then replace the previous ones without a gap."""
    services = current_services()
    try:
        menu_file = read_menu_file(services, file)
    except RichMenuFileError as exc:
        raise click.ClickException(f"{exc}\n(nothing was sent to LINE)") from None
    if check:
        click.echo(f"{file}: {len(menu_file.menus)} menu(s), no problems")
        return
    session = services.db.session()
    try:
        report = apply_menu_file(
            session, services.line, menu_file, services.clock.now(), force=force, say=click.echo
        )
    except LineError as exc:
        session.rollback()
        details = "".join(f"\n  {d.get('property')}: {d.get('message')}" for d in exc.details)
        raise click.ClickException(f"LINE refused: {exc} (status {exc.status}){details}") from None
    click.echo(
        f"applied {file}: {len(report.created)} created, {len(report.kept)} kept, "
        f"{report.relinked} shopper(s) re-linked, {len(report.deleted)} old menu(s) deleted"
    )


@richmenu_group.command("status")
@with_appcontext
def status_command() -> None:
    """The applied menus and whether LINE still has them, the default and the aliases."""
    services = current_services()
    rows = list(services.db.session().scalars(select(AppliedRichMenu)))
    if not rows:
        click.echo("no rich menus applied (flask richmenu apply FILE.yaml)")
        return
    line = services.line
    on_line = {menu["richMenuId"] for menu in line.list_rich_menus()}
    default = line.default_rich_menu()
    aliases = line.rich_menu_aliases()
    for row in rows:
        marks = [
            "on LINE" if row.rich_menu_id in on_line else "MISSING on LINE",
            f"for {row.audience} shoppers" if row.audience else "alias only",
        ]
        if row.is_default:
            marks.append("default" if default == row.rich_menu_id else "default NOT SET")
        if row.alias_id:
            ok = aliases.get(row.alias_id) == row.rich_menu_id
            marks.append(f"alias {row.alias_id}" + ("" if ok else " NOT POINTING HERE"))
        applied = row.applied_at.isoformat(timespec="seconds")
        click.echo(f"{row.name}: {row.rich_menu_id} ({', '.join(marks)}; applied {applied})")
