"""Rich menus: the Messaging API's rich menu, alias, default and per-user link endpoints.

``RichMenus`` is mixed into ``LineEmulator``. It checks what LINE checks (the rich menu
object's size, areas and texts through ``line_messages.rich_menus``; an image's type, bytes
and dimensions; alias ids) and keeps the state a test asks about through ``rich_menu_state``:
the menus with whether an image was uploaded, the default, the aliases and each user's menu.

In production the image endpoints (``/v2/bot/richmenu/{richMenuId}/content``) are on the
``api-data`` host; the emulator serves both hosts' paths on one port.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from line_emulator.ids import USER_ID_PATTERN
from line_messages.rich_menus import ALIAS_ID_PATTERN, image_problem, validate_rich_menu

if TYPE_CHECKING:
    from line_emulator.core import ApiResponse, _Call

__all__ = ["RichMenus", "control_rich_menus"]

MAX_RICH_MENUS = 1000  # per channel
MAX_ALIASES = 1000
BULK_MAX_USERS = 500
RICH_MENU_ID = re.compile(r"^richmenu-[0-9a-f]{32}$")
NO_IMAGE = "must upload richmenu image before applying it to user"
IMAGE_EXISTS = "An image has already been uploaded to the richmenu"
ALIAS_CONFLICT = "conflict richmenu alias id"
RICH_MENU_NOT_FOUND = "richmenu not found"
ALIAS_NOT_FOUND = "richmenu alias not found"

Handler = Callable[["_Call", dict[str, str]], "ApiResponse"]


@dataclass
class _RichMenu:
    rich_menu_id: str
    menu: dict[str, Any]
    image: bytes | None = None
    content_type: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {"richMenuId": self.rich_menu_id, **self.menu}


def _answer(status: int, body: Any) -> ApiResponse:
    from line_emulator.core import ApiResponse

    return ApiResponse(status, body)


def _message(status: int, message: str, details: list[dict[str, str]] | None = None) -> Any:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return _answer(status, body)


class RichMenus:
    """The rich menu endpoints and their state (mixed into LineEmulator)."""

    _lock: threading.RLock
    _json_body: Callable[[_Call], Any]
    _rich_menus: dict[str, _RichMenu]
    _default_rich_menu: str | None
    _rich_menu_aliases: dict[str, str]
    _user_rich_menus: dict[str, str]

    def _reset_rich_menus(self) -> None:
        self._rich_menus = {}
        self._default_rich_menu = None
        self._rich_menu_aliases = {}
        self._user_rich_menus = {}

    # -- routing ----------------------------------------------------------------------------

    def _rich_menu_route(self, call: _Call) -> Callable[[_Call], ApiResponse] | ApiResponse | None:
        """The handler for a rich menu path, 405 for a known path with another method, or None."""
        path = call.path
        known = False
        for pattern, methods in _ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            known = True
            name = methods.get(call.method)
            if name is not None:
                handler: Handler = getattr(self, name)
                params = match.groupdict()
                return lambda c: handler(c, params)
        if known:
            return _message(405, "Method Not Allowed")
        return None

    # -- the menus --------------------------------------------------------------------------

    def _create_rich_menu(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        body = self._json_body(call)
        if not isinstance(body, dict):
            return body
        details = validate_rich_menu(body)
        if details:
            return _message(400, f"The request body has {len(details)} error(s)", details)
        with self._lock:
            if len(self._rich_menus) >= MAX_RICH_MENUS:
                return _message(400, f"The number of rich menus exceeds {MAX_RICH_MENUS}")
            rich_menu_id = "richmenu-" + secrets.token_hex(16)
            self._rich_menus[rich_menu_id] = _RichMenu(rich_menu_id, dict(body))
        return _answer(200, {"richMenuId": rich_menu_id})

    def _validate_rich_menu(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        body = self._json_body(call)
        if not isinstance(body, dict):
            return body
        details = validate_rich_menu(body)
        if details:
            return _message(400, f"The request body has {len(details)} error(s)", details)
        return _answer(200, {})

    def _list_rich_menus(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        with self._lock:
            return _answer(200, {"richmenus": [m.to_api() for m in self._rich_menus.values()]})

    def _get_rich_menu(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        with self._lock:
            menu = self._rich_menus.get(params["id"])
            if menu is None:
                return _message(404, RICH_MENU_NOT_FOUND)
            return _answer(200, menu.to_api())

    def _delete_rich_menu(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        rich_menu_id = params["id"]
        with self._lock:
            if self._rich_menus.pop(rich_menu_id, None) is None:
                return _message(404, RICH_MENU_NOT_FOUND)
            # A deleted menu is no one's menu any more: users fall back to the default.
            if self._default_rich_menu == rich_menu_id:
                self._default_rich_menu = None
            for mapping in (self._user_rich_menus, self._rich_menu_aliases):
                for key in [k for k, v in mapping.items() if v == rich_menu_id]:
                    del mapping[key]
        return _answer(200, {})

    def _upload_rich_menu_image(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        content_type = call.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() not in ("image/jpeg", "image/png"):
            return _message(415, f"The content type, '{content_type}', is not supported")
        with self._lock:
            menu = self._rich_menus.get(params["id"])
            if menu is None:
                return _message(404, RICH_MENU_NOT_FOUND)
            if menu.image is not None:
                return _message(400, IMAGE_EXISTS)
            size = menu.menu["size"]
            problem = image_problem(call.body, content_type, size["width"], size["height"])
            if problem is not None:
                status = 413 if "bytes" in problem else 400
                return _message(status, problem)
            menu.image = bytes(call.body)
            menu.content_type = content_type.split(";")[0].strip().lower()
        return _answer(200, {})

    def _download_rich_menu_image(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        with self._lock:
            menu = self._rich_menus.get(params["id"])
            if menu is None or menu.image is None:
                return _message(404, "Not found")
            response = _answer(200, menu.image)
            response.headers["Content-Type"] = menu.content_type or "application/octet-stream"
            return response

    def _menu_with_image(self, rich_menu_id: str) -> ApiResponse | None:
        menu = self._rich_menus.get(rich_menu_id)
        if menu is None:
            return _message(404, RICH_MENU_NOT_FOUND)
        if menu.image is None:
            return _message(400, NO_IMAGE)
        return None

    # -- default ----------------------------------------------------------------------------

    def _set_default_rich_menu(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        with self._lock:
            problem = self._menu_with_image(params["id"])
            if problem is not None:
                return problem
            self._default_rich_menu = params["id"]
        return _answer(200, {})

    def _get_default_rich_menu(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        with self._lock:
            if self._default_rich_menu is None:
                return _message(404, "no default richmenu")
            return _answer(200, {"richMenuId": self._default_rich_menu})

    def _cancel_default_rich_menu(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        with self._lock:
            self._default_rich_menu = None
        return _answer(200, {})

    # -- aliases ----------------------------------------------------------------------------

    def _create_alias(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        body = self._json_body(call)
        if not isinstance(body, dict):
            return body
        alias, rich_menu_id = body.get("richMenuAliasId"), body.get("richMenuId")
        details = []
        if not isinstance(alias, str) or not ALIAS_ID_PATTERN.match(alias):
            details.append(
                {"message": "must match ^[a-z0-9_-]{1,32}$", "property": "richMenuAliasId"}
            )
        if not isinstance(rich_menu_id, str):
            details.append({"message": "must be specified", "property": "richMenuId"})
        if details:
            return _message(400, f"The request body has {len(details)} error(s)", details)
        with self._lock:
            problem = self._menu_with_image(rich_menu_id)
            if problem is not None:
                return _message(400, problem.body["message"])
            if alias in self._rich_menu_aliases:
                return _message(400, ALIAS_CONFLICT)
            if len(self._rich_menu_aliases) >= MAX_ALIASES:
                return _message(400, f"The number of rich menu aliases exceeds {MAX_ALIASES}")
            self._rich_menu_aliases[alias] = rich_menu_id
        return _answer(200, {})

    def _update_alias(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        body = self._json_body(call)
        if not isinstance(body, dict):
            return body
        rich_menu_id = body.get("richMenuId")
        if not isinstance(rich_menu_id, str):
            details = [{"message": "must be specified", "property": "richMenuId"}]
            return _message(400, "The request body has 1 error(s)", details)
        with self._lock:
            if params["alias"] not in self._rich_menu_aliases:
                return _message(400, ALIAS_NOT_FOUND)
            problem = self._menu_with_image(rich_menu_id)
            if problem is not None:
                return _message(400, problem.body["message"])
            self._rich_menu_aliases[params["alias"]] = rich_menu_id
        return _answer(200, {})

    def _get_alias(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        with self._lock:
            rich_menu_id = self._rich_menu_aliases.get(params["alias"])
        if rich_menu_id is None:
            return _message(404, ALIAS_NOT_FOUND)
        return _answer(200, {"richMenuAliasId": params["alias"], "richMenuId": rich_menu_id})

    def _delete_alias(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        with self._lock:
            if self._rich_menu_aliases.pop(params["alias"], None) is None:
                return _message(400, ALIAS_NOT_FOUND)
        return _answer(200, {})

    def _list_aliases(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        with self._lock:
            aliases = [
                {"richMenuAliasId": alias, "richMenuId": menu}
                for alias, menu in self._rich_menu_aliases.items()
            ]
        return _answer(200, {"aliases": aliases})

    # -- per user ---------------------------------------------------------------------------

    def _link_user(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        if not USER_ID_PATTERN.match(params["user"]):
            return _message(400, "The value for the 'userId' parameter is invalid")
        with self._lock:
            problem = self._menu_with_image(params["id"])
            if problem is not None:
                return problem
            self._user_rich_menus[params["user"]] = params["id"]
        return _answer(200, {})

    def _unlink_user(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        if not USER_ID_PATTERN.match(params["user"]):
            return _message(400, "The value for the 'userId' parameter is invalid")
        with self._lock:
            self._user_rich_menus.pop(params["user"], None)
        return _answer(200, {})

    def _get_user_menu(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        if not USER_ID_PATTERN.match(params["user"]):
            return _message(400, "The value for the 'userId' parameter is invalid")
        with self._lock:
            rich_menu_id = self._user_rich_menus.get(params["user"])
        if rich_menu_id is None:
            return _message(404, "the user has no richmenu")
        return _answer(200, {"richMenuId": rich_menu_id})

    def _bulk_users(self, body: dict[str, Any]) -> list[str] | ApiResponse:
        users = body.get("userIds")
        if not isinstance(users, list) or not 1 <= len(users) <= BULK_MAX_USERS:
            details = [
                {"message": f"Size must be between 1 and {BULK_MAX_USERS}", "property": "userIds"}
            ]
            return _message(400, "The request body has 1 error(s)", details)
        details = [
            {"message": "invalid user id", "property": f"userIds[{index}]"}
            for index, user in enumerate(users)
            if not isinstance(user, str) or not USER_ID_PATTERN.match(user)
        ]
        if details:
            return _message(400, f"The request body has {len(details)} error(s)", details)
        return users

    def _bulk_link(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        body = self._json_body(call)
        if not isinstance(body, dict):
            return body
        users = self._bulk_users(body)
        if not isinstance(users, list):
            return users
        with self._lock:
            problem = self._menu_with_image(str(body.get("richMenuId")))
            if problem is not None:
                return problem
            for user in users:
                self._user_rich_menus[user] = body["richMenuId"]
        return _answer(202, {})

    def _bulk_unlink(self, call: _Call, params: dict[str, str]) -> ApiResponse:
        body = self._json_body(call)
        if not isinstance(body, dict):
            return body
        users = self._bulk_users(body)
        if not isinstance(users, list):
            return users
        with self._lock:
            for user in users:
                self._user_rich_menus.pop(user, None)
        return _answer(202, {})

    # -- for tests --------------------------------------------------------------------------

    def rich_menu_state(self) -> dict[str, Any]:
        """The menus (with image facts), the default, the aliases and the per-user links."""
        with self._lock:
            return {
                "richmenus": [
                    {
                        **menu.to_api(),
                        "imageContentType": menu.content_type,
                        "imageBytes": len(menu.image) if menu.image is not None else None,
                    }
                    for menu in self._rich_menus.values()
                ],
                "default": self._default_rich_menu,
                "aliases": dict(self._rich_menu_aliases),
                "users": dict(self._user_rich_menus),
            }

    def rich_menu_of(self, user_id: str) -> str | None:
        """The menu a user sees: their own, else the default (None: no menu)."""
        with self._lock:
            return self._user_rich_menus.get(user_id, self._default_rich_menu)


_ID = r"(?P<id>[^/]+)"
_ROUTES: tuple[tuple[re.Pattern[str], dict[str, str]], ...] = tuple(
    (re.compile(f"^{path}$"), methods)
    for path, methods in (
        ("/v2/bot/richmenu", {"POST": "_create_rich_menu"}),
        ("/v2/bot/richmenu/validate", {"POST": "_validate_rich_menu"}),
        ("/v2/bot/richmenu/list", {"GET": "_list_rich_menus"}),
        ("/v2/bot/richmenu/bulk/link", {"POST": "_bulk_link"}),
        ("/v2/bot/richmenu/bulk/unlink", {"POST": "_bulk_unlink"}),
        ("/v2/bot/richmenu/alias", {"POST": "_create_alias"}),
        ("/v2/bot/richmenu/alias/list", {"GET": "_list_aliases"}),
        (
            "/v2/bot/richmenu/alias/(?P<alias>[^/]+)",
            {"GET": "_get_alias", "POST": "_update_alias", "DELETE": "_delete_alias"},
        ),
        (
            f"/v2/bot/richmenu/{_ID}/content",
            {"POST": "_upload_rich_menu_image", "GET": "_download_rich_menu_image"},
        ),
        (f"/v2/bot/richmenu/{_ID}", {"GET": "_get_rich_menu", "DELETE": "_delete_rich_menu"}),
        (
            "/v2/bot/user/all/richmenu",
            {"GET": "_get_default_rich_menu", "DELETE": "_cancel_default_rich_menu"},
        ),
        (f"/v2/bot/user/all/richmenu/{_ID}", {"POST": "_set_default_rich_menu"}),
        (
            "/v2/bot/user/(?P<user>[^/]+)/richmenu",
            {"GET": "_get_user_menu", "DELETE": "_unlink_user"},
        ),
        (f"/v2/bot/user/(?P<user>[^/]+)/richmenu/{_ID}", {"POST": "_link_user"}),
    )
)


def control_rich_menus(emulator: RichMenus, method: str, rest: list[str]) -> tuple[int, Any] | None:
    """``/_emulator/richmenus``: the rich menu state (GET); None for anything else."""
    if not rest and method == "GET":
        return 200, emulator.rich_menu_state()
    return None
