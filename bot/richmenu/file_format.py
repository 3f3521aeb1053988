"""The rich menu file: a YAML of the shop's menus, read and checked before anything is sent.

```yaml
menus:
  guest:                      # the menu's name (also its name on LINE)
    audience: unlinked        # who gets it: unlinked or linked shoppers (optional)
    default: true             # the menu of everyone without their own
    alias: guest              # a rich menu alias kept pointing at it (optional)
    image: guest.png          # JPEG or PNG, relative to the file, exactly `size`
    size: {width: 2500, height: 843}
    chatBarText: メニュー
    selected: false
    areas:
      - bounds: {x: 0, y: 0, width: 834, height: 843}
        action: {type: postback, data: action=link, displayText: 会員連携}
```

The rich menu fields and actions are LINE's own (`line_messages.rich_menus` checks them as
LINE does). On top of that the bot's own rules: a postback's `action` must be one the bot
handles, a web link must open one of LINK_HOSTS, and a `richmenuswitch` must name an alias of
the file. A link may start with `{shop}` (the shop's site, from SHOP_LINK_URL) or be `{help}`
(SHOP_HELP_URL). Every error names the file, the menu and the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from bot.core.settings import Settings
from line_messages.links import host_allowed
from line_messages.rich_menus import (
    ALIAS_ID_PATTERN,
    image_problem,
    image_size,
    validate_rich_menu,
)

AUDIENCES = ("linked", "unlinked")
LINE_FIELDS = ("size", "chatBarText", "selected", "areas")
OWN_FIELDS = ("audience", "default", "alias", "image")
MAX_MENUS = 1000  # LINE keeps at most 1000 rich menus per channel


class RichMenuFileError(ValueError):
    """The rich menu file is wrong; the message names the file, the menu and the key."""


@dataclass(frozen=True)
class MenuSpec:
    """One menu of the file, ready to send: LINE's request body and the image."""

    name: str
    request: dict[str, Any]
    image: bytes
    content_type: str
    audience: str | None
    alias_id: str | None
    is_default: bool

    @property
    def digest(self) -> str:
        """Changes whenever what LINE would show changes (request or image)."""
        body = json.dumps(self.request, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(body + b"\0" + self.image).hexdigest()


@dataclass(frozen=True)
class MenuFile:
    path: Path
    menus: tuple[MenuSpec, ...]

    def for_audience(self, audience: str) -> MenuSpec | None:
        return next((m for m in self.menus if m.audience == audience), None)

    @property
    def default(self) -> MenuSpec | None:
        return next((m for m in self.menus if m.is_default), None)


def load_menu_file(
    path: str | Path, settings: Settings, known_action: Callable[[str], bool]
) -> MenuFile:
    """Read and check the file; `known_action` says whether the bot handles a postback action."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RichMenuFileError(f"{path}: cannot read the file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RichMenuFileError(f"{path}: not valid YAML: {exc}") from None
    return parse_menu_file(raw, path, settings, known_action)


def parse_menu_file(
    raw: Any, path: Path, settings: Settings, known_action: Callable[[str], bool]
) -> MenuFile:
    """Check a parsed rich menu file (see the module docstring)."""
    problems: list[str] = []

    def fail(where: str, message: str) -> None:
        problems.append(f"{path}: {where}: {message}")

    if not isinstance(raw, dict) or set(raw) != {"menus"} or not isinstance(raw["menus"], dict):
        raise RichMenuFileError(f"{path}: the file must be a mapping with one key, menus")
    menus_raw: dict[Any, Any] = raw["menus"]
    if not 1 <= len(menus_raw) <= MAX_MENUS:
        raise RichMenuFileError(f"{path}: menus: between 1 and {MAX_MENUS} menus are needed")
    aliases = {
        str(m.get("alias")): str(name)
        for name, m in menus_raw.items()
        if isinstance(m, dict) and m.get("alias") is not None
    }
    specs: list[MenuSpec] = []
    for name, menu in menus_raw.items():
        where = f"menu {name!r}"
        if not isinstance(name, str) or not name.strip() or len(name) > 300:
            fail(where, "a menu name is 1-300 characters")
            continue
        if not isinstance(menu, dict):
            fail(where, "must be a mapping")
            continue
        for key in menu:
            if key not in LINE_FIELDS and key not in OWN_FIELDS:
                fail(f"{where}: {key}", "unknown key")
        request = {"size": menu.get("size"), "selected": menu.get("selected", False)}
        request |= {"name": name, "chatBarText": menu.get("chatBarText")}
        request["areas"] = _expand_links(menu.get("areas"), settings)
        for detail in validate_rich_menu(request):
            fail(f"{where}: {detail['property']}", detail["message"])
        for prop, action in _actions(request["areas"]):
            problem = _bot_action_problem(action, settings, known_action, aliases)
            if problem:
                fail(f"{where}: {prop}", problem)
        audience = menu.get("audience")
        if audience is not None and audience not in AUDIENCES:
            fail(f"{where}: audience", f"must be one of {', '.join(AUDIENCES)}")
        alias = menu.get("alias")
        if alias is not None and (not isinstance(alias, str) or not ALIAS_ID_PATTERN.match(alias)):
            fail(f"{where}: alias", "1-32 characters of a-z, 0-9, _ and -")
        elif alias is not None and aliases.get(alias) != name:
            fail(f"{where}: alias", f"{alias!r} is already the alias of another menu")
        default = menu.get("default", False)
        if not isinstance(default, bool):
            fail(f"{where}: default", "must be true or false")
        image, content_type = _read_image(path, menu.get("image"), request.get("size"))
        if isinstance(image, str):
            fail(f"{where}: image", image)
            continue
        specs.append(
            MenuSpec(
                name=name,
                request=request,
                image=image,
                content_type=content_type,
                audience=audience if audience in AUDIENCES else None,
                alias_id=alias,
                is_default=default is True,
            )
        )
    for audience in AUDIENCES:
        named = [
            str(n)
            for n, m in menus_raw.items()
            if isinstance(m, dict) and m.get("audience") == audience
        ]
        if len(named) > 1:
            fail(f"menus {', '.join(named)}: audience", f"only one menu can be for {audience}")
    defaults = [
        str(n) for n, m in menus_raw.items() if isinstance(m, dict) and m.get("default") is True
    ]
    if len(defaults) > 1:
        fail(f"menus {', '.join(defaults)}: default", "only one menu can be the default")
    if problems:
        raise RichMenuFileError("\n".join(problems))
    return MenuFile(path, tuple(specs))


def _expand_links(areas: Any, settings: Settings) -> Any:
    """`{shop}/path` and `{help}` in uri actions, replaced in the parsed values."""
    if not isinstance(areas, list):
        return areas
    parts = urlsplit(settings.shop_link_url)
    shop = f"{parts.scheme}://{parts.netloc}"
    expanded = []
    for area in areas:
        action = area.get("action") if isinstance(area, dict) else None
        uri = action.get("uri") if isinstance(action, dict) else None
        if isinstance(uri, str) and (uri == "{help}" or uri.startswith("{shop}")):
            uri = settings.help_url if uri == "{help}" else shop + uri[len("{shop}") :]
            area = {**area, "action": {**action, "uri": uri}}
        expanded.append(area)
    return expanded


def _actions(areas: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, area in enumerate(areas if isinstance(areas, list) else ()):
        action = area.get("action") if isinstance(area, dict) else None
        if isinstance(action, dict):
            yield f"areas[{index}].action", action


def _bot_action_problem(
    action: dict[str, Any],
    settings: Settings,
    known_action: Callable[[str], bool],
    aliases: dict[str, str],
) -> str | None:
    """Why the bot would not handle this action, or None."""
    kind = action.get("type")
    if kind in ("postback", "datetimepicker"):
        data = action.get("data")
        name = parse_qs(data).get("action", [None])[0] if isinstance(data, str) else None
        if name is None or not known_action(name):
            return f"the bot has no postback action {name!r} (data {data!r})"
    elif kind == "uri":
        uri = str(action.get("uri", ""))
        scheme = urlsplit(uri).scheme.lower()
        if scheme in ("http", "https") and not host_allowed(uri, settings.allowed_link_hosts):
            hosts = ", ".join(sorted(settings.allowed_link_hosts))
            return f"{uri!r} is not on the allowed link hosts ({hosts})"
    elif kind == "richmenuswitch":
        alias = action.get("richMenuAliasId")
        if alias not in aliases:
            return f"no menu of this file has the alias {alias!r}"
    return None


def _read_image(path: Path, name: Any, size: Any) -> tuple[bytes | str, str]:
    """The image's bytes and content type, or the reason it cannot be used (and "")."""
    if not isinstance(name, str) or not name:
        return "must name a JPEG or PNG file", ""
    image_path = (path.parent / name).resolve()
    try:
        data = image_path.read_bytes()
    except OSError as exc:
        return f"cannot read {name}: {exc.strerror}", ""
    found = image_size(data)
    if found is None:
        return f"{name} is not a JPEG or PNG file", ""
    if isinstance(size, dict) and isinstance(size.get("width"), int):
        problem = image_problem(data, found[0], size["width"], size.get("height") or 0)
        if problem:
            return f"{name}: {problem}", ""
    return data, found[0]
