"""Putting the rich menu file on LINE, replacing the previous menus without a gap.

Order: create each new or changed menu and upload its image; point the aliases and the default
at the new menus; re-link the shoppers who get a menu of their own; record the new ids (commit);
only then delete the old menus. At every step each shopper has a working menu: until the
default moves they see the old one, and an old menu is deleted only when nothing points at it.
A menu whose request and image are unchanged (same digest) and still on LINE is kept as it is,
so applying the same file twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.line.gateway import LineClientError, LineGateway
from bot.models import AppliedRichMenu, Shopper
from bot.richmenu.file_format import MenuFile, MenuSpec

log = logging.getLogger(__name__)

BULK_LINK_MAX = 500  # user ids per bulk link request


@dataclass
class ApplyReport:
    """What `apply_menu_file` did, for the CLI."""

    created: dict[str, str] = field(default_factory=dict)  # name → new rich menu id
    kept: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    default: str | None = None
    relinked: int = 0
    deleted: list[str] = field(default_factory=list)


def apply_menu_file(
    session: Session,
    line: LineGateway,
    menu_file: MenuFile,
    now: datetime,
    *,
    force: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> ApplyReport:
    """Make LINE show the file's menus (see the module docstring); commits the session."""
    report = ApplyReport()
    previous = {row.name: row for row in session.scalars(select(AppliedRichMenu))}
    on_line = {menu["richMenuId"]: menu for menu in line.list_rich_menus()}
    ids: dict[str, str] = {}
    try:
        for spec in menu_file.menus:
            row = previous.get(spec.name)
            if not force and row and row.digest == spec.digest and row.rich_menu_id in on_line:
                ids[spec.name] = report.kept[spec.name] = row.rich_menu_id
                say(f"kept     {spec.name}: {row.rich_menu_id} (unchanged)")
                continue
            rich_menu_id = line.create_rich_menu(spec.request)
            ids[spec.name] = report.created[spec.name] = rich_menu_id
            line.upload_rich_menu_image(rich_menu_id, spec.image, spec.content_type)
            say(f"created  {spec.name}: {rich_menu_id} (image {len(spec.image)} bytes)")
    except Exception:
        # Nothing points at the half-made menus yet: remove them, keep the old ones as they are.
        for rich_menu_id in report.created.values():
            _delete_quietly(line, rich_menu_id)
        raise

    aliases = line.rich_menu_aliases()
    for spec in menu_file.menus:
        if spec.alias_id and aliases.get(spec.alias_id) != ids[spec.name]:
            exists = spec.alias_id in aliases
            line.set_rich_menu_alias(spec.alias_id, ids[spec.name], exists=exists)
            report.aliases.append(spec.alias_id)
            say(f"alias    {spec.alias_id} → {spec.name}")
    default = menu_file.default
    if default is not None and line.default_rich_menu() != ids[default.name]:
        line.set_default_rich_menu(ids[default.name])
        report.default = default.name
        say(f"default  {default.name}")

    for spec in menu_file.menus:
        row = previous.get(spec.name)
        # A new menu, or a kept one that is now for other shoppers, is linked to its audience.
        changed = row is None or (row.audience, row.is_default) != (spec.audience, spec.is_default)
        if (spec.name in report.created or changed) and spec.audience and not spec.is_default:
            count = _link_audience(session, line, spec, ids[spec.name])
            report.relinked += count
            say(f"linked   {count} shopper(s) to {spec.name}")

    session.execute(delete(AppliedRichMenu).where(AppliedRichMenu.name.not_in(list(ids))))
    for spec in menu_file.menus:
        row = previous.get(spec.name) or AppliedRichMenu(name=spec.name)
        row.rich_menu_id = ids[spec.name]
        row.audience = spec.audience
        row.alias_id = spec.alias_id
        row.is_default = spec.is_default
        row.digest = spec.digest
        row.applied_at = now
        session.add(row)
    session.commit()

    # Old aliases the file no longer has go before their menus.
    wanted_aliases = {spec.alias_id for spec in menu_file.menus if spec.alias_id}
    for row in previous.values():
        if row.alias_id and row.alias_id not in wanted_aliases and row.alias_id in aliases:
            try:
                line.delete_rich_menu_alias(row.alias_id)
            except LineClientError:
                log.warning("old rich menu alias already gone", extra={"alias": row.alias_id})
    # The previous menus, and any left by an apply that stopped half-way (same names).
    names = {spec.name for spec in menu_file.menus} | set(previous)
    current = set(ids.values())
    old = {row.rich_menu_id for row in previous.values()}
    old |= {rid for rid, menu in on_line.items() if menu.get("name") in names}
    for rich_menu_id in sorted(old - current):
        if rich_menu_id in on_line and _delete_quietly(line, rich_menu_id):
            report.deleted.append(rich_menu_id)
            say(f"deleted  {on_line[rich_menu_id].get('name')}: {rich_menu_id}")
    return report


def _link_audience(session: Session, line: LineGateway, spec: MenuSpec, rich_menu_id: str) -> int:
    """Give the new menu to every shopper it is for (LINE's bulk link, 500 at a time)."""
    linked = Shopper.member_id.is_not(None)
    query = select(Shopper.line_user_id).where(linked if spec.audience == "linked" else ~linked)
    user_ids = list(session.scalars(query.order_by(Shopper.id)))
    for start in range(0, len(user_ids), BULK_LINK_MAX):
        line.link_rich_menu_to_users(rich_menu_id, user_ids[start : start + BULK_LINK_MAX])
    return len(user_ids)


def _delete_quietly(line: LineGateway, rich_menu_id: str) -> bool:
    try:
        line.delete_rich_menu(rich_menu_id)
    except LineClientError as exc:
        log.warning(
            "rich menu not deleted", extra={"rich_menu_id": rich_menu_id, "status": exc.status}
        )
        return False
    return True
