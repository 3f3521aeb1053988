"""`flask richmenu apply` against the LINE emulator over real HTTP: order, no gap, re-apply."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from bot.models import AppliedRichMenu
from line_emulator.server import EmulatorServer
from tests.helpers.delivery import add_shopper
from tests.helpers.richmenu import SAMPLE_FILE

LINKED = "U" + "1" * 32
GUEST = "U" + "2" * 32


def run(app: Flask, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=["richmenu", *args])
    return result


def calls(emulator: EmulatorServer) -> list[str]:
    """The rich menu requests LINE got, as "METHOD path-kind" in order."""
    out = []
    for record in emulator.requests():
        path = record["path"]
        if "richmenu" not in path:
            continue
        if path.endswith("/content"):
            kind = "upload"
        elif path == "/v2/bot/richmenu":
            kind = "create"
        elif path.startswith("/v2/bot/richmenu/alias"):
            kind = "alias"
        elif path.startswith("/v2/bot/user/all/richmenu"):
            kind = "default"
        elif path == "/v2/bot/richmenu/bulk/link":
            kind = "bulk-link"
        elif path == "/v2/bot/richmenu/list":
            kind = "list"
        else:
            kind = "other"
        out.append(f"{record['method']} {kind}")
    return out


def ids_by_name(emulator: EmulatorServer) -> dict[str, str]:
    return {m["name"]: m["richMenuId"] for m in emulator.rich_menu_state()["richmenus"]}


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """The sample file and images in a folder the test may change."""
    for name in ("menus.yaml", "guest.png", "member.png"):
        shutil.copy(SAMPLE_FILE.parent / name, tmp_path / name)
    return tmp_path / "menus.yaml"


def test_first_apply_creates_uploads_aliases_and_default(
    e2e_app: Flask, emulator: EmulatorServer
) -> None:
    result = run(e2e_app, "apply", str(SAMPLE_FILE))
    assert result.exit_code == 0, result.output
    state = emulator.rich_menu_state()
    ids = ids_by_name(emulator)
    assert set(ids) == {"guest", "member"}
    sizes = {m["name"]: m["imageBytes"] for m in state["richmenus"]}
    assert sizes == {n: (SAMPLE_FILE.parent / f"{n}.png").stat().st_size for n in ids}
    assert state["default"] == ids["guest"]
    assert state["aliases"] == {"guest": ids["guest"], "member": ids["member"]}
    assert calls(emulator) == [
        "GET list",
        "POST create",
        "POST upload",
        "POST create",
        "POST upload",
        "GET alias",
        "POST alias",
        "POST alias",
        "GET default",
        "POST default",
    ]
    with e2e_app.app_context():
        rows = e2e_app.extensions["bot"].db.session().scalars(select(AppliedRichMenu)).all()
        assert {(r.name, r.rich_menu_id, r.audience, r.is_default) for r in rows} == {
            ("guest", ids["guest"], "unlinked", True),
            ("member", ids["member"], "linked", False),
        }
    assert "2 created, 0 kept" in result.output


def test_reapplying_the_same_file_changes_nothing(e2e_app: Flask, emulator: EmulatorServer) -> None:
    assert run(e2e_app, "apply", str(SAMPLE_FILE)).exit_code == 0
    before = emulator.rich_menu_state()
    emulator.clear_requests()
    result = run(e2e_app, "apply", str(SAMPLE_FILE))
    assert result.exit_code == 0, result.output
    assert "0 created, 2 kept" in result.output
    assert emulator.rich_menu_state() == before
    assert not [c for c in calls(emulator) if c.startswith(("POST", "DELETE"))]


def test_forced_reapply_replaces_without_a_gap(e2e_app: Flask, emulator: EmulatorServer) -> None:
    assert run(e2e_app, "apply", str(SAMPLE_FILE)).exit_code == 0
    old = ids_by_name(emulator)
    add_shopper(e2e_app, line_user_id=LINKED, member_id="M1")
    add_shopper(e2e_app, line_user_id=GUEST, member_id=None)
    # The linked shopper has the member menu, as the link switch gave it.
    emulator.handle(
        "POST",
        f"/v2/bot/user/{LINKED}/richmenu/{old['member']}",
        {"authorization": f"Bearer {emulator.channel_access_token}"},
        b"",
    )
    emulator.clear_requests()

    result = run(e2e_app, "apply", "--force", str(SAMPLE_FILE))
    assert result.exit_code == 0, result.output
    new = ids_by_name(emulator)
    assert set(new) == {"guest", "member"} and not set(new.values()) & set(old.values())
    order = calls(emulator)
    first_delete = order.index("DELETE other")
    # Everything that points shoppers at the new menus happens before any old one goes.
    for step in ("POST create", "POST upload", "POST alias", "POST default", "POST bulk-link"):
        assert step in order[:first_delete], (step, order)
    assert order[first_delete:] == ["DELETE other", "DELETE other"]
    deletes = [r["path"] for r in emulator.requests() if r["method"] == "DELETE"]
    assert sorted(deletes) == sorted(f"/v2/bot/richmenu/{i}" for i in old.values())
    (bulk,) = [r for r in emulator.requests() if r["path"] == "/v2/bot/richmenu/bulk/link"]
    assert bulk["body"] == {"richMenuId": new["member"], "userIds": [LINKED]}
    state = emulator.rich_menu_state()
    assert state["default"] == new["guest"]
    assert state["aliases"] == {"guest": new["guest"], "member": new["member"]}
    assert emulator.rich_menu_of(LINKED) == new["member"]
    assert emulator.rich_menu_of(GUEST) == new["guest"]


def test_changed_menu_is_replaced_and_unchanged_one_kept(
    e2e_app: Flask, emulator: EmulatorServer, sample_copy: Path
) -> None:
    assert run(e2e_app, "apply", str(sample_copy)).exit_code == 0
    old = ids_by_name(emulator)
    data = yaml.safe_load(sample_copy.read_text(encoding="utf-8"))
    data["menus"]["member"]["chatBarText"] = "会員メニュー"
    sample_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = run(e2e_app, "apply", str(sample_copy))
    assert result.exit_code == 0, result.output
    new = ids_by_name(emulator)
    assert new["guest"] == old["guest"] and new["member"] != old["member"]
    assert emulator.rich_menu_state()["aliases"]["member"] == new["member"]
    assert len(emulator.rich_menu_state()["richmenus"]) == 2  # the old member menu is gone


def test_menu_dropped_from_the_file_loses_its_alias_and_is_deleted(
    e2e_app: Flask, emulator: EmulatorServer, sample_copy: Path
) -> None:
    assert run(e2e_app, "apply", str(sample_copy)).exit_code == 0
    data = yaml.safe_load(sample_copy.read_text(encoding="utf-8"))
    del data["menus"]["member"]
    sample_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert run(e2e_app, "apply", str(sample_copy)).exit_code == 0
    state = emulator.rich_menu_state()
    assert [m["name"] for m in state["richmenus"]] == ["guest"]
    assert set(state["aliases"]) == {"guest"}
    with e2e_app.app_context():
        session = e2e_app.extensions["bot"].db.session()
        assert session.scalars(select(AppliedRichMenu.name)).all() == ["guest"]


def test_failed_upload_leaves_the_old_menus_in_place(
    e2e_app: Flask, emulator: EmulatorServer
) -> None:
    assert run(e2e_app, "apply", str(SAMPLE_FILE)).exit_code == 0
    before = emulator.rich_menu_state()
    emulator.fail_next(500, path="/v2/bot/richmenu/*/content")
    result = run(e2e_app, "apply", "--force", str(SAMPLE_FILE))
    assert result.exit_code != 0
    assert "LINE refused: Internal server error (status 500)" in result.output
    assert emulator.rich_menu_state() == before  # the half-made menu was removed again
    with e2e_app.app_context():
        session = e2e_app.extensions["bot"].db.session()
        applied = {r.rich_menu_id for r in session.scalars(select(AppliedRichMenu))}
    assert applied == {m["richMenuId"] for m in before["richmenus"]}


def test_file_errors_send_nothing(e2e_app: Flask, emulator: EmulatorServer, tmp_path: Path) -> None:
    path = tmp_path / "menus.yaml"
    path.write_text("menus:\n  top:\n    image: none.png\n", encoding="utf-8")
    result = run(e2e_app, "apply", str(path))
    assert result.exit_code != 0
    assert f"{path}: menu 'top': image: cannot read none.png" in result.output
    assert "nothing was sent to LINE" in result.output
    assert emulator.requests() == []


def test_check_only_and_status(e2e_app: Flask, emulator: EmulatorServer) -> None:
    checked = run(e2e_app, "apply", "--check", str(SAMPLE_FILE))
    assert checked.exit_code == 0 and "2 menu(s), no problems" in checked.output
    assert emulator.requests() == []
    assert "no rich menus applied" in run(e2e_app, "status").output
    run(e2e_app, "apply", str(SAMPLE_FILE))
    ids = ids_by_name(emulator)
    status = run(e2e_app, "status").output
    assert f"guest: {ids['guest']} (on LINE, for unlinked shoppers, default, alias guest;" in status
    assert f"member: {ids['member']} (on LINE, for linked shoppers, alias member;" in status
    emulator.handle(
        "DELETE",
        f"/v2/bot/richmenu/{ids['member']}",
        {"authorization": f"Bearer {emulator.channel_access_token}"},
        b"",
    )
    assert "MISSING on LINE" in run(e2e_app, "status").output


def test_kept_menu_given_an_audience_is_linked_to_it(
    e2e_app: Flask, emulator: EmulatorServer, sample_copy: Path
) -> None:
    data = yaml.safe_load(sample_copy.read_text(encoding="utf-8"))
    del data["menus"]["member"]["audience"]
    sample_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert run(e2e_app, "apply", str(sample_copy)).exit_code == 0
    add_shopper(e2e_app, line_user_id=LINKED, member_id="M1")
    assert emulator.rich_menu_of(LINKED) == ids_by_name(emulator)["guest"]
    data["menus"]["member"]["audience"] = "linked"
    sample_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = run(e2e_app, "apply", str(sample_copy))
    assert "0 created, 2 kept, 1 shopper(s) re-linked" in result.output
    assert emulator.rich_menu_of(LINKED) == ids_by_name(emulator)["member"]
