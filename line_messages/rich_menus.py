"""LINE's rules for rich menu objects and their images, shared by the bot and the emulator.

From the Messaging API reference (rich menu object, area object, bounds object, "Upload rich
menu image"): the size is 800-2500 px wide, at least 250 px high, with a width/height ratio of
at least 1.45; at most 20 areas, each inside the menu; ``chatBarText`` at most 14 characters and
``name`` at most 300; the image is a JPEG or PNG of at most 1 MB with exactly the menu's size.
A rich menu alias id is 1-32 characters of ``a-z 0-9 _ -``.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from line_messages.validation import POSTBACK_DATA_MAX, Detail, _Walker

__all__ = [
    "ALIAS_ID_PATTERN",
    "IMAGE_MAX_BYTES",
    "IMAGE_TYPES",
    "MAX_AREAS",
    "image_problem",
    "image_size",
    "validate_rich_menu",
]

MIN_WIDTH, MAX_WIDTH, MIN_HEIGHT = 800, 2500, 250
MIN_ASPECT_RATIO = 1.45
MAX_AREAS = 20
CHAT_BAR_TEXT_MAX = 14
NAME_MAX = 300
IMAGE_MAX_BYTES = 1024 * 1024
IMAGE_TYPES = ("image/jpeg", "image/png")
ALIAS_ID_PATTERN = re.compile(r"^[a-z0-9_-]{1,32}$")
_MENU_FIELDS = ("size", "selected", "name", "chatBarText", "areas")


class _RichMenuWalker(_Walker):
    """The message walker's primitives and actions, plus `richmenuswitch` (rich menus only)."""

    def action(self, value: Any, prop: str, context: str) -> None:
        if isinstance(value, dict) and value.get("type") == "richmenuswitch":
            self.known(value, prop, ("type", "label", "richMenuAliasId", "data"))
            self.graphemes(value.get("label"), f"{prop}.label", 20, False)
            alias = self.string(value.get("richMenuAliasId"), f"{prop}.richMenuAliasId", 32, True)
            if alias is not None and not ALIAS_ID_PATTERN.match(alias):
                self.error(f"{prop}.richMenuAliasId", "must match ^[a-z0-9_-]{1,32}$")
            self.string(value.get("data"), f"{prop}.data", POSTBACK_DATA_MAX, required=True)
            return
        super().action(value, prop, context)

    def rich_menu(self, menu: Any) -> None:
        menu = self.obj(menu, "richMenu")
        if menu is None:
            return
        for key in menu:
            if key not in _MENU_FIELDS:
                self.error(key, "unknown field")
        size = self.obj(menu.get("size"), "size")
        width = height = None
        if size is not None:
            self.known(size, "size", ("width", "height"))
            width, height = size.get("width"), size.get("height")
            if not _is_int(width) or not MIN_WIDTH <= width <= MAX_WIDTH:
                self.error("size.width", f"must be between {MIN_WIDTH} and {MAX_WIDTH}")
                width = None
            if not _is_int(height) or height < MIN_HEIGHT:
                self.error("size.height", f"must be greater than or equal to {MIN_HEIGHT}")
                height = None
            if width is not None and height is not None and width / height < MIN_ASPECT_RATIO:
                self.error("size", "aspect ratio (width / height) must be at least 1.45")
        if "selected" not in menu:
            self.error("selected", "must be specified")
        self.boolean(menu.get("selected"), "selected")
        self.string(menu.get("name"), "name", NAME_MAX, required=True, non_empty=True)
        self.string(
            menu.get("chatBarText"), "chatBarText", CHAT_BAR_TEXT_MAX, required=True, non_empty=True
        )
        # The spec sets no minimum (`maxItems: 20` on the response only, 20 in the reference).
        areas = self.array(menu.get("areas"), "areas", 0, MAX_AREAS)
        for index, area in enumerate(areas or ()):
            self.area(area, f"areas[{index}]", width, height)

    def area(self, value: Any, prop: str, width: int | None, height: int | None) -> None:
        area = self.obj(value, prop)
        if area is None:
            return
        self.known(area, prop, ("bounds", "action"))
        bounds = self.obj(area.get("bounds"), f"{prop}.bounds")
        if bounds is not None:
            self.known(bounds, f"{prop}.bounds", ("x", "y", "width", "height"))
            for key, lowest in (("x", 0), ("y", 0), ("width", 1), ("height", 1)):
                self.integer(bounds.get(key), f"{prop}.bounds.{key}", True, lowest)
            if all(_is_int(bounds.get(k)) for k in ("x", "y", "width", "height")):
                if width is not None and bounds["x"] + bounds["width"] > width:
                    self.error(f"{prop}.bounds", "the area exceeds the rich menu's width")
                if height is not None and bounds["y"] + bounds["height"] > height:
                    self.error(f"{prop}.bounds", "the area exceeds the rich menu's height")
        self.action(area.get("action"), f"{prop}.action", "richMenu")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_rich_menu(menu: Any) -> list[Detail]:
    """Check a rich menu object (as sent to create or validate); LINE-style error details."""
    walker = _RichMenuWalker(sdk_check=False)
    walker.rich_menu(menu)
    return walker.errors


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """(content type, width, height) read from a PNG or JPEG header; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "image/png", width, height
    if data.startswith(b"\xff\xd8"):
        index = 2
        while index + 4 <= len(data):
            if data[index] != 0xFF:
                return None
            marker = data[index + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
                index += 2
                continue
            (length,) = struct.unpack(">H", data[index + 2 : index + 4])
            # Start-of-frame markers (baseline, progressive, ...) carry the dimensions.
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE):
                if index + 9 > len(data):
                    return None
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return "image/jpeg", width, height
            index += 2 + length
    return None


def image_problem(data: bytes, content_type: str, width: int, height: int) -> str | None:
    """Why LINE would refuse `data` as the image of a `width`×`height` rich menu, or None."""
    declared = content_type.split(";")[0].strip().lower()
    if declared not in IMAGE_TYPES:
        return f"the content type must be image/jpeg or image/png, got {content_type!r}"
    if len(data) > IMAGE_MAX_BYTES:
        return f"the image is {len(data)} bytes; at most {IMAGE_MAX_BYTES} bytes are allowed"
    found = image_size(data)
    if found is None or found[0] != declared:
        return f"the image is not a valid {declared.split('/')[1].upper()} file"
    if (found[1], found[2]) != (width, height):
        return f"the image is {found[1]}x{found[2]} but the rich menu is {width}x{height}"
    return None
