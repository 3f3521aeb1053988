"""The emulated rich menu endpoints and LINE's checks on them, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api
from tests.helpers.richmenu import jpeg_header, png_bytes

USER = "U" + "a" * 32


def rich_menu(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "size": {"width": 2500, "height": 843},
        "selected": False,
        "name": "guest",
        "chatBarText": "メニュー",
        "areas": [
            {
                "bounds": {"x": 0, "y": 0, "width": 1250, "height": 843},
                "action": {"type": "postback", "data": "action=link"},
            },
            {
                "bounds": {"x": 1250, "y": 0, "width": 1250, "height": 843},
                "action": {"type": "uri", "uri": "https://shop.example.jp/cart"},
            },
        ],
    }
    return base | changes


def create(api: Api, **changes: Any) -> str:
    response = api.post("/v2/bot/richmenu", rich_menu(**changes))
    assert response.status_code == 200, response.text
    return str(response.json()["richMenuId"])


def upload(api: Api, rich_menu_id: str, data: bytes, content_type: str = "image/png") -> Any:
    return api.session.post(
        f"{api.base_url}/v2/bot/richmenu/{rich_menu_id}/content",
        data=data,
        headers={"Content-Type": content_type},
        timeout=10,
    )


def area(x: int, y: int, width: int, height: int) -> dict[str, Any]:
    return {
        "bounds": {"x": x, "y": y, "width": width, "height": height},
        "action": {"type": "postback", "data": "action=link"},
    }


INVALID = [
    (
        {"areas": [area(i * 100, 0, 100, 100) for i in range(21)]},
        "areas",
        "Size must be between 0 and 20",
    ),
    ({"areas": [area(2400, 0, 200, 843)]}, "areas[0].bounds", "exceeds the rich menu's width"),
    ({"areas": [area(0, 800, 100, 44)]}, "areas[0].bounds", "exceeds the rich menu's height"),
    ({"size": {"width": 2500, "height": 1800}}, "size", "aspect ratio"),
    ({"size": {"width": 700, "height": 250}}, "size.width", "between 800 and 2500"),
    ({"size": {"width": 2500, "height": 200}}, "size.height", "greater than or equal to 250"),
    ({"chatBarText": "x" * 15}, "chatBarText", "Length must be between 1 and 14"),
    ({"name": "n" * 301}, "name", "Length must be between 1 and 300"),
    (
        {"areas": [{**area(0, 0, 10, 10), "action": {"type": "camera", "label": "写真"}}]},
        "areas[0].action.type",
        "Must be one of the following values",
    ),
]


@pytest.mark.parametrize(("changes", "prop", "message"), INVALID, ids=[c[1] for c in INVALID])
def test_invalid_rich_menu_is_refused_on_create_and_validate(
    emu: EmulatorServer, api: Api, changes: dict[str, Any], prop: str, message: str
) -> None:
    for path in ("/v2/bot/richmenu", "/v2/bot/richmenu/validate"):
        response = api.post(path, rich_menu(**changes))
        assert response.status_code == 400
        details = response.json()["details"]
        assert any(d["property"] == prop and message in d["message"] for d in details), details
    assert emu.rich_menu_state()["richmenus"] == []


def test_valid_menu_validates_and_is_listed(emu: EmulatorServer, api: Api) -> None:
    assert api.post("/v2/bot/richmenu/validate", rich_menu()).status_code == 200
    rich_menu_id = create(api)
    listed = api.get("/v2/bot/richmenu/list").json()["richmenus"]
    assert [m["richMenuId"] for m in listed] == [rich_menu_id]
    assert api.get(f"/v2/bot/richmenu/{rich_menu_id}").json()["chatBarText"] == "メニュー"


def test_image_upload_checks_type_size_and_dimensions(emu: EmulatorServer, api: Api) -> None:
    rich_menu_id = create(api)
    assert upload(api, rich_menu_id, png_bytes(2500, 843), "image/gif").status_code == 415
    wrong = upload(api, rich_menu_id, png_bytes(1200, 405))
    assert wrong.status_code == 400
    assert "1200x405 but the rich menu is 2500x843" in wrong.json()["message"]
    assert upload(api, rich_menu_id, jpeg_header(2500, 843)).status_code == 400  # not a PNG
    big = upload(api, rich_menu_id, png_bytes(2500, 843, padding=1024 * 1024))
    assert big.status_code == 413
    assert emu.rich_menu_state()["richmenus"][0]["imageBytes"] is None
    image = png_bytes(2500, 843)
    assert upload(api, rich_menu_id, image).status_code == 200
    again = upload(api, rich_menu_id, image)
    assert again.status_code == 400 and "already been uploaded" in again.json()["message"]
    download = api.get(f"/v2/bot/richmenu/{rich_menu_id}/content")
    assert download.status_code == 200
    assert download.content == image and download.headers["Content-Type"] == "image/png"


def test_jpeg_image_is_accepted(emu: EmulatorServer, api: Api) -> None:
    rich_menu_id = create(api)
    assert upload(api, rich_menu_id, jpeg_header(2500, 843), "image/jpeg").status_code == 200
    assert emu.rich_menu_state()["richmenus"][0]["imageContentType"] == "image/jpeg"


def test_default_links_and_aliases_need_an_image(emu: EmulatorServer, api: Api) -> None:
    rich_menu_id = create(api)
    no_image = "must upload richmenu image before applying it to user"
    assert api.post(f"/v2/bot/user/all/richmenu/{rich_menu_id}").json()["message"] == no_image
    assert api.post(f"/v2/bot/user/{USER}/richmenu/{rich_menu_id}").status_code == 400
    alias = {"richMenuAliasId": "guest", "richMenuId": rich_menu_id}
    assert api.post("/v2/bot/richmenu/alias", alias).status_code == 400
    upload(api, rich_menu_id, png_bytes(2500, 843))
    assert api.post(f"/v2/bot/user/all/richmenu/{rich_menu_id}").status_code == 200
    assert api.get("/v2/bot/user/all/richmenu").json() == {"richMenuId": rich_menu_id}
    assert api.post("/v2/bot/richmenu/alias", alias).status_code == 200
    conflict = api.post("/v2/bot/richmenu/alias", alias)
    assert (
        conflict.status_code == 400 and conflict.json()["message"] == "conflict richmenu alias id"
    )
    assert emu.rich_menu_of(USER) == rich_menu_id  # the default


def test_alias_ids_follow_lines_pattern(emu: EmulatorServer, api: Api) -> None:
    rich_menu_id = create(api)
    upload(api, rich_menu_id, png_bytes(2500, 843))
    for bad in ("Guest", "a" * 33, "", "menu.1"):
        body = {"richMenuAliasId": bad, "richMenuId": rich_menu_id}
        response = api.post("/v2/bot/richmenu/alias", body)
        assert response.status_code == 400, bad
        assert response.json()["details"][0]["property"] == "richMenuAliasId"
    assert emu.rich_menu_state()["aliases"] == {}


def test_alias_update_get_list_and_delete(emu: EmulatorServer, api: Api) -> None:
    first, second = create(api), create(api, name="member")
    for rich_menu_id in (first, second):
        upload(api, rich_menu_id, png_bytes(2500, 843))
    api.post("/v2/bot/richmenu/alias", {"richMenuAliasId": "top", "richMenuId": first})
    assert api.post("/v2/bot/richmenu/alias/top", {"richMenuId": second}).status_code == 200
    assert api.get("/v2/bot/richmenu/alias/top").json()["richMenuId"] == second
    listed = api.get("/v2/bot/richmenu/alias/list").json()["aliases"]
    assert listed == [{"richMenuAliasId": "top", "richMenuId": second}]
    assert api.session.delete(api.base_url + "/v2/bot/richmenu/alias/top").status_code == 200
    assert api.get("/v2/bot/richmenu/alias/top").status_code == 404
    missing = api.post("/v2/bot/richmenu/alias/top", {"richMenuId": second})
    assert missing.status_code == 400


def test_per_user_and_bulk_links_and_delete(emu: EmulatorServer, api: Api) -> None:
    guest, member = create(api), create(api, name="member")
    for rich_menu_id in (guest, member):
        upload(api, rich_menu_id, png_bytes(2500, 843))
    api.post(f"/v2/bot/user/all/richmenu/{guest}")
    other = "U" + "b" * 32
    assert api.post(f"/v2/bot/user/{USER}/richmenu/{member}").status_code == 200
    assert api.get(f"/v2/bot/user/{USER}/richmenu").json() == {"richMenuId": member}
    assert api.post(f"/v2/bot/user/not-a-user/richmenu/{member}").status_code == 400
    bulk = api.post("/v2/bot/richmenu/bulk/link", {"richMenuId": member, "userIds": [other]})
    assert bulk.status_code == 202
    too_many = {"richMenuId": member, "userIds": [USER] * 501}
    assert api.post("/v2/bot/richmenu/bulk/link", too_many).status_code == 400
    assert emu.rich_menu_of(other) == member
    assert api.session.delete(f"{api.base_url}/v2/bot/user/{USER}/richmenu").status_code == 200
    assert emu.rich_menu_of(USER) == guest
    # Deleting a menu removes its links: the user falls back to the default.
    assert api.session.delete(f"{api.base_url}/v2/bot/richmenu/{member}").status_code == 200
    assert emu.rich_menu_of(other) == guest
    assert api.get(f"/v2/bot/richmenu/{member}").status_code == 404
    assert api.session.delete(f"{api.base_url}/v2/bot/richmenu/{guest}").status_code == 200
    assert emu.rich_menu_of(USER) is None
    assert api.get("/v2/bot/user/all/richmenu").status_code == 404


def test_unknown_method_on_a_rich_menu_path_is_405(emu: EmulatorServer, api: Api) -> None:
    assert api.get("/v2/bot/richmenu").status_code == 405
    assert api.session.put(api.base_url + "/v2/bot/richmenu/list", timeout=10).status_code == 405


def test_control_api_shows_the_state(emu: EmulatorServer, api: Api) -> None:
    from line_emulator.client import EmulatorClient

    rich_menu_id = create(api)
    state = EmulatorClient(emu.base_url).rich_menu_state()
    assert [m["richMenuId"] for m in state["richmenus"]] == [rich_menu_id]
    assert state["default"] is None and state["users"] == {}
