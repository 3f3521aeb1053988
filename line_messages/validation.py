"""Validation of LINE message objects against the Messaging API's documented limits.

One coherent thing at over 400 lines: a single walk over every message and action type LINE
defines, each with its limits beside it.

``validate_messages`` walks the raw JSON-like dicts itself, because the line-bot-sdk
models silently drop unknown fields and do not enforce most limits (a 20-bubble
carousel or a 2000-character label passes ``Message.from_dict``).  The SDK is still
used as a last shape check for each message the walk found nothing wrong with.

Limits follow LINE's Messaging API reference (message objects, action objects and
"Character counting in a text"):

* text properties are counted in UTF-16 code units, except action labels, postback
  ``displayText``/``text``/``fillInText``, message-action ``text`` and template
  ``title``/``text``, which LINE counts in grapheme clusters;
* "30 KB"/"50 KB" Flex sizes are read conservatively as 30,000/50,000 bytes of
  compact UTF-8 JSON, so a message that passes here also passes on LINE.

Each problem is reported as a LINE-style error detail, for example
``{"message": "Length must be between 0 and 300",
"property": "messages[0].quickReply.items[2].action.data"}``.
This module has no Flask dependency: the bot validates what it renders before pushing, and
the LINE emulator answers 400 with the same rules.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "ALT_TEXT_MAX",
    "BUBBLE_MAX_BYTES",
    "CAROUSEL_MAX_BUBBLES",
    "CAROUSEL_MAX_BYTES",
    "MAX_MESSAGES",
    "QUICK_REPLY_MAX_ITEMS",
    "TEXT_MAX",
    "URI_MAX",
    "grapheme_len",
    "json_size",
    "utf16_len",
    "validate_message",
    "validate_messages",
    "warm_up",
]

MAX_MESSAGES = 5
TEXT_MAX = 5000
ALT_TEXT_MAX = 1500
QUICK_REPLY_MAX_ITEMS = 13
CAROUSEL_MAX_BUBBLES = 12
BUBBLE_MAX_BYTES = 30_000
CAROUSEL_MAX_BYTES = 50_000
URL_MAX = 2000
URI_MAX = 1000
POSTBACK_DATA_MAX = 300
ANIMATED_IMAGES_MAX = 10

URI_SCHEMES = ("http", "https", "line", "tel")

MESSAGE_TYPES = (
    "text",
    "textV2",
    "sticker",
    "image",
    "video",
    "audio",
    "location",
    "imagemap",
    "template",
    "flex",
)

# Allowed action types and label rule (required, max graphemes) per place of use,
# from "Specifications of the label" in the action objects reference.
_COMMON_ACTIONS = ("postback", "message", "uri", "datetimepicker", "clipboard")
_QUICK_REPLY_ACTIONS = (*_COMMON_ACTIONS, "camera", "cameraRoll", "location")
_ACTION_CONTEXTS: dict[str, tuple[tuple[str, ...], bool, int]] = {
    "quickReply": (_QUICK_REPLY_ACTIONS, True, 20),
    "template": (_COMMON_ACTIONS, True, 20),
    "templateDefault": (_COMMON_ACTIONS, False, 20),
    "imageCarousel": (_COMMON_ACTIONS, False, 12),
    "flexButton": (_COMMON_ACTIONS, True, 40),
    "flex": (_COMMON_ACTIONS, False, 40),
    # Rich menu areas (richmenuswitch is handled in line_messages.rich_menus).
    "richMenu": (_COMMON_ACTIONS, False, 20),
}

_SPACING_KEYWORDS = ("none", "xs", "sm", "md", "lg", "xl", "xxl")
_FONT_SIZES = ("xxs", "xs", "sm", "md", "lg", "xl", "xxl", "3xl", "4xl", "5xl")
_IMAGE_SIZES = (*_FONT_SIZES, "full")
_GRAVITY = ("top", "bottom", "center")
_ALIGN = ("start", "end", "center")
_POSITION = ("relative", "absolute")
_BORDER_WIDTHS = ("none", "light", "normal", "medium", "semi-bold", "bold")
_BUBBLE_SIZES = ("nano", "micro", "deca", "hecto", "kilo", "mega", "giga")
_VIDEO_BUBBLE_SIZES = ("kilo", "mega", "giga")

_PX = re.compile(r"^\d+(\.\d+)?px$")
_PERCENT = re.compile(r"^\d+(\.\d+)?%$")
_WHITESPACE = re.compile(r"\s")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")
_ASPECT_RATIO = re.compile(r"^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$")
_ANGLE = re.compile(r"^\d+(\.\d+)?deg$")
_TRACKING_ID = re.compile(r"^[a-zA-Z0-9\-.=,+*()%$&;:@{}!?<>\[\]]+$")
_SUBSTITUTION_KEY = re.compile(r"^[0-9a-zA-Z_]{1,20}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}$")

# String-valued properties that line-bot-sdk models validate by value (enums and
# discriminators).  Every other string only matters to the SDK through its type and
# length, which the walk has already checked when the SDK check runs.
_SDK_VALUE_KEYS = frozenset(
    {
        "type",
        "layout",
        "position",
        "justifyContent",
        "alignItems",
        "direction",
        "size",
        "style",
        "gravity",
        "height",
        "adjustMode",
        "align",
        "aspectMode",
        "weight",
        "decoration",
        "mode",
        "inputOption",
    }
)

Detail = dict[str, str]


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, as LINE counts most text."""
    return len(text.encode("utf-16-le")) // 2


def _is_grapheme_extender(cp: int) -> bool:
    if cp < 0x300 or (0x3040 <= cp <= 0x9FFF and cp not in (0x3099, 0x309A)):
        return False  # Latin-1 and kana/kanji: the common case in shop copy
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors
        return True
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:  # skin tones, emoji tags
        return True
    if cp in (0xFF9E, 0xFF9F):  # half-width katakana (semi-)voiced sound marks
        return True
    return unicodedata.category(chr(cp)) in ("Mn", "Me", "Mc")


def grapheme_len(text: str) -> int:
    """Approximate number of extended grapheme clusters (UAX #29) in ``text``.

    Handles combining marks, variation selectors, emoji modifiers and tags, ZWJ
    sequences, regional-indicator flags and CRLF, which covers Japanese shop copy.
    """
    if text.isascii():
        return len(text) - text.count("\r\n")
    count = 0
    joined = False  # previous code point was ZWJ
    open_flag = False  # an unpaired regional indicator starts the current cluster
    previous_cr = False
    for ch in text:
        cp = ord(ch)
        if cp == 0x200D:
            joined = True
            if count == 0:
                count = 1
            continue
        if count and _is_grapheme_extender(cp):
            joined = False
            continue
        if joined:
            joined = False
            continue
        if ch == "\n" and previous_cr:
            previous_cr = False
            continue
        previous_cr = ch == "\r"
        if 0x1F1E6 <= cp <= 0x1F1FF:
            if open_flag:
                open_flag = False
                continue
            open_flag = True
        else:
            open_flag = False
        count += 1
    return count


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (how Flex size limits are measured here)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def validate_messages(
    messages: Any, prefix: str = "messages", *, sdk_check: bool = True
) -> list[Detail]:
    """Validate a list of message objects; return LINE-style error details (empty if valid).

    ``sdk_check=False`` skips the final line-bot-sdk ``Message.from_dict`` pass (results
    are cached per message structure, so it mostly costs on first sight of a layout).
    """
    walker = _Walker(sdk_check)
    walker.messages(messages, prefix)
    return walker.errors


def validate_message(
    message: Any, prefix: str = "messages[0]", *, sdk_check: bool = True
) -> list[Detail]:
    """Validate one message object; return LINE-style error details (empty if valid)."""
    walker = _Walker(sdk_check)
    walker.message(message, prefix)
    return walker.errors


def _sdk_shape(value: Any) -> Any:
    """Replace free-text strings so equal structures share one cached SDK check."""
    if isinstance(value, dict):
        return {
            key: (item if key in _SDK_VALUE_KEYS and isinstance(item, str) else _sdk_shape(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_sdk_shape(item) for item in value]
    if isinstance(value, str):
        return "x" if value else ""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return 0 if value >= 0 else -1
    if isinstance(value, float):
        return 0.0 if value >= 0 else -1.0
    return value


def warm_up() -> None:
    """Import line-bot-sdk's models now rather than on the first validated message (~1 s)."""
    from linebot.v3.messaging import Message  # noqa: F401


@lru_cache(maxsize=4096)
def _sdk_error(shape_json: str) -> str | None:
    from linebot.v3.messaging import Message  # imported lazily: the SDK is slow to import

    try:
        Message.from_dict(json.loads(shape_json))
    except Exception as exc:  # the SDK raises ValueError, KeyError or ValidationError
        return " ".join(str(exc).split())[:300]
    return None


class _Walker:
    """Collects error details while walking message dicts."""

    def __init__(self, sdk_check: bool = True) -> None:
        self.errors: list[Detail] = []
        self._animated = 0
        self._sdk_check = sdk_check

    # -- primitives ---------------------------------------------------------------

    def error(self, prop: str, message: str) -> None:
        self.errors.append({"message": message, "property": prop})

    def known(self, obj: dict[str, Any], prop: str, allowed: Iterable[str]) -> None:
        allowed_set = allowed if isinstance(allowed, frozenset | set) else frozenset(allowed)
        for key in obj:
            if key not in allowed_set:
                self.error(f"{prop}.{key}", "unknown field")

    def obj(self, value: Any, prop: str, required: bool = True) -> dict[str, Any] | None:
        if value is None:
            if required:
                self.error(prop, "must be specified")
            return None
        if not isinstance(value, dict):
            self.error(prop, "must be an object")
            return None
        return value

    def array(
        self, value: Any, prop: str, lo: int, hi: int | None, required: bool = True
    ) -> list[Any] | None:
        if value is None:
            if required:
                self.error(prop, "must be specified")
            return None
        if not isinstance(value, list):
            self.error(prop, "must be an array")
            return None
        if len(value) < lo or (hi is not None and len(value) > hi):
            bound = hi if hi is not None else "unlimited"
            self.error(prop, f"Size must be between {lo} and {bound}")
        return value

    def string(
        self,
        value: Any,
        prop: str,
        max_len: int | None = None,
        required: bool = False,
        non_empty: bool = False,
        counter: Callable[[str], int] = utf16_len,
    ) -> str | None:
        if value is None:
            if required:
                self.error(prop, "must be specified")
            return None
        if not isinstance(value, str):
            self.error(prop, "must be a string")
            return None
        if non_empty and not value:
            self.error(prop, "May not be empty")
            return value
        if max_len is not None and counter(value) > max_len:
            self.error(prop, f"Length must be between {1 if non_empty else 0} and {max_len}")
        return value

    def text(self, value: Any, prop: str, max_len: int, required: bool = True) -> str | None:
        """A required, non-empty text counted in UTF-16 code units."""
        return self.string(value, prop, max_len, required=required, non_empty=required)

    def graphemes(self, value: Any, prop: str, max_len: int, required: bool) -> str | None:
        return self.string(
            value, prop, max_len, required=required, non_empty=required, counter=grapheme_len
        )

    def enum(self, value: Any, prop: str, values: tuple[str, ...], required: bool = False) -> None:
        if value is None:
            if required:
                self.error(prop, "must be specified")
            return
        if value not in values:
            self.error(prop, f"Must be one of the following values: [{', '.join(values)}]")

    def boolean(self, value: Any, prop: str) -> None:
        if value is not None and not isinstance(value, bool):
            self.error(prop, "must be a boolean")

    def number(
        self, value: Any, prop: str, required: bool = False, minimum: float | None = None
    ) -> None:
        if value is None:
            if required:
                self.error(prop, "must be specified")
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(prop, "must be a number")
        elif minimum is not None and value < minimum:
            self.error(prop, f"must be greater than or equal to {minimum:g}")

    def integer(self, value: Any, prop: str, required: bool = False, minimum: int = 0) -> None:
        if value is None:
            if required:
                self.error(prop, "must be specified")
            return
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(prop, "must be an integer")
        elif value < minimum:
            self.error(prop, f"must be greater than or equal to {minimum}")

    def color(self, value: Any, prop: str) -> None:
        if value is not None and (not isinstance(value, str) or not _COLOR.match(value)):
            self.error(prop, "must be a hex color code (#RRGGBB or #RRGGBBAA)")

    def https_url(self, value: Any, prop: str, required: bool = True) -> None:
        url = self.string(value, prop, URL_MAX, required=required, non_empty=required)
        if url is None or not url or self._url_encoding(url, prop):
            return
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.netloc:
            self.error(prop, "must be a valid HTTPS URL")

    def uri(self, value: Any, prop: str, required: bool = True) -> None:
        uri = self.string(value, prop, URI_MAX, required=required, non_empty=required)
        if uri is None or not uri or self._url_encoding(uri, prop):
            return
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme not in URI_SCHEMES:
            self.error(prop, "invalid uri scheme: must be one of [http, https, line, tel]")
        elif scheme in ("http", "https") and not parts.netloc:
            self.error(prop, "invalid uri: the host is missing")

    def _url_encoding(self, url: str, prop: str) -> bool:
        # LINE requires URLs percent-encoded in UTF-8; raw spaces or non-ASCII fail.
        if not url.isascii() or _WHITESPACE.search(url):
            self.error(prop, "must be percent-encoded (no spaces or non-ASCII characters)")
            return True
        return False

    def css_length(
        self,
        value: Any,
        prop: str,
        keywords: tuple[str, ...] = (),
        percent: bool = True,
        negative: bool = False,
    ) -> None:
        if value is None:
            return
        if isinstance(value, str):
            number = value[1:] if negative and value.startswith("-") else value
            if value in keywords or _PX.match(number) or (percent and _PERCENT.match(number)):
                return
        units = "{n}px, {n}%" if percent else "{n}px"
        allowed = ", ".join((*keywords, units))
        self.error(prop, f"invalid value: must be one of [{allowed}]")

    def aspect_ratio(self, value: Any, prop: str) -> None:
        if value is None:
            return
        match = _ASPECT_RATIO.match(value) if isinstance(value, str) else None
        if not match:
            self.error(prop, "must be in {width}:{height} format")
            return
        width, height = float(match.group(1)), float(match.group(2))
        if not (1 <= width <= 100000 and 1 <= height <= 100000):
            self.error(prop, "width and height must be between 1 and 100000")
        elif height > 3 * width:
            self.error(prop, "height must not be more than three times the width")

    # -- messages -----------------------------------------------------------------

    def messages(self, messages: Any, prop: str) -> None:
        items = self.array(messages, prop, 1, MAX_MESSAGES)
        if items is None:
            return
        for index, message in enumerate(items):
            self.message(message, f"{prop}[{index}]")

    def message(self, message: Any, prop: str) -> None:
        msg = self.obj(message, prop)
        if msg is None:
            return
        kind = msg.get("type")
        if kind is None:
            self.error(f"{prop}.type", "must be specified")
            return
        handler = _MESSAGE_HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            self.enum(kind, f"{prop}.type", MESSAGE_TYPES)
            return
        before = len(self.errors)
        self._animated = 0
        handler(self, msg, prop)
        self.common(msg, prop)
        if self._sdk_check and len(self.errors) == before:
            self.sdk_check(msg, prop)

    def common(self, msg: dict[str, Any], prop: str) -> None:
        quick = self.obj(msg.get("quickReply"), f"{prop}.quickReply", required=False)
        if quick is not None:
            self.known(quick, f"{prop}.quickReply", ("items",))
            items = self.array(
                quick.get("items"), f"{prop}.quickReply.items", 1, QUICK_REPLY_MAX_ITEMS
            )
            for index, raw in enumerate(items or ()):
                item_prop = f"{prop}.quickReply.items[{index}]"
                item = self.obj(raw, item_prop)
                if item is None:
                    continue
                self.known(item, item_prop, ("type", "imageUrl", "action"))
                self.enum(item.get("type"), f"{item_prop}.type", ("action",), required=True)
                self.https_url(item.get("imageUrl"), f"{item_prop}.imageUrl", required=False)
                self.action(item.get("action"), f"{item_prop}.action", "quickReply")
        sender = self.obj(msg.get("sender"), f"{prop}.sender", required=False)
        if sender is not None:
            self.known(sender, f"{prop}.sender", ("name", "iconUrl"))
            self.string(sender.get("name"), f"{prop}.sender.name", 20)
            self.https_url(sender.get("iconUrl"), f"{prop}.sender.iconUrl", required=False)
        self.string(msg.get("quoteToken"), f"{prop}.quoteToken")

    def sdk_check(self, msg: dict[str, Any], prop: str) -> None:
        shape = json.dumps(_sdk_shape(msg))
        problem = _sdk_error(shape)
        if problem is not None:
            self.error(prop, f"invalid message object: {problem}")

    def text_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(msg, prop, ("type", "text", "emojis", "quoteToken", "quickReply", "sender"))
        text = self.text(msg.get("text"), f"{prop}.text", TEXT_MAX)
        emojis = self.array(msg.get("emojis"), f"{prop}.emojis", 0, 20, required=False)
        units = text.encode("utf-16-le") if isinstance(text, str) else b""
        for index, raw in enumerate(emojis or ()):
            emoji_prop = f"{prop}.emojis[{index}]"
            emoji = self.obj(raw, emoji_prop)
            if emoji is None:
                continue
            self.known(emoji, emoji_prop, ("index", "productId", "emojiId"))
            self.string(emoji.get("productId"), f"{emoji_prop}.productId", required=True)
            self.string(emoji.get("emojiId"), f"{emoji_prop}.emojiId", required=True)
            position = emoji.get("index")
            self.integer(position, f"{emoji_prop}.index", required=True)
            if isinstance(position, int) and not isinstance(position, bool) and units:
                unit = units[position * 2 : position * 2 + 2]
                if unit != "$".encode("utf-16-le"):
                    self.error(f"{emoji_prop}.index", "must point at a '$' placeholder in text")

    def text_v2_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(
            msg, prop, ("type", "text", "substitution", "quoteToken", "quickReply", "sender")
        )
        text = self.text(msg.get("text"), f"{prop}.text", TEXT_MAX)
        substitution = self.obj(msg.get("substitution"), f"{prop}.substitution", required=False)
        keys: set[str] = set()
        if substitution is not None:
            if len(substitution) > 100:
                self.error(f"{prop}.substitution", "Size must be between 0 and 100")
            for key, raw in substitution.items():
                item_prop = f"{prop}.substitution.{key}"
                if not _SUBSTITUTION_KEY.match(key):
                    self.error(item_prop, "key must match [0-9a-zA-Z_]{1,20}")
                keys.add(key)
                item = self.obj(raw, item_prop)
                if item is None:
                    continue
                kind = item.get("type")
                self.enum(kind, f"{item_prop}.type", ("mention", "emoji"), required=True)
                if kind == "emoji":
                    self.known(item, item_prop, ("type", "productId", "emojiId"))
                    self.string(item.get("productId"), f"{item_prop}.productId", required=True)
                    self.string(item.get("emojiId"), f"{item_prop}.emojiId", required=True)
                elif kind == "mention":
                    self.known(item, item_prop, ("type", "mentionee"))
                    mentionee = self.obj(item.get("mentionee"), f"{item_prop}.mentionee")
                    if mentionee is not None:
                        who = mentionee.get("type")
                        self.enum(who, f"{item_prop}.mentionee.type", ("user", "all"), True)
                        if who == "user":
                            self.string(
                                mentionee.get("userId"),
                                f"{item_prop}.mentionee.userId",
                                required=True,
                            )
        if isinstance(text, str):
            stripped = text.replace("{{", "").replace("}}", "")
            for name in re.findall(r"\{([^{}]*)\}", stripped):
                if name not in keys:
                    self.error(f"{prop}.text", f"placeholder {{{name}}} has no substitution")
            if re.sub(r"\{[^{}]*\}", "", stripped).count("{") or re.sub(
                r"\{[^{}]*\}", "", stripped
            ).count("}"):
                self.error(f"{prop}.text", "'{' and '}' must be used in pairs")

    def sticker_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(
            msg, prop, ("type", "packageId", "stickerId", "quoteToken", "quickReply", "sender")
        )
        self.string(msg.get("packageId"), f"{prop}.packageId", required=True, non_empty=True)
        self.string(msg.get("stickerId"), f"{prop}.stickerId", required=True, non_empty=True)

    def image_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(
            msg, prop, ("type", "originalContentUrl", "previewImageUrl", "quickReply", "sender")
        )
        self.https_url(msg.get("originalContentUrl"), f"{prop}.originalContentUrl")
        self.https_url(msg.get("previewImageUrl"), f"{prop}.previewImageUrl")

    def video_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(
            msg,
            prop,
            ("type", "originalContentUrl", "previewImageUrl", "trackingId", "quickReply", "sender"),
        )
        self.https_url(msg.get("originalContentUrl"), f"{prop}.originalContentUrl")
        self.https_url(msg.get("previewImageUrl"), f"{prop}.previewImageUrl")
        tracking = self.string(msg.get("trackingId"), f"{prop}.trackingId", 100)
        if tracking is not None and not _TRACKING_ID.match(tracking):
            self.error(f"{prop}.trackingId", "contains characters that are not allowed")

    def audio_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(msg, prop, ("type", "originalContentUrl", "duration", "quickReply", "sender"))
        self.https_url(msg.get("originalContentUrl"), f"{prop}.originalContentUrl")
        self.integer(msg.get("duration"), f"{prop}.duration", required=True, minimum=1)

    def location_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(
            msg,
            prop,
            ("type", "title", "address", "latitude", "longitude", "quickReply", "sender"),
        )
        self.text(msg.get("title"), f"{prop}.title", 100)
        self.text(msg.get("address"), f"{prop}.address", 100)
        for key, bound in (("latitude", 90), ("longitude", 180)):
            value = msg.get(key)
            self.number(value, f"{prop}.{key}", required=True)
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and abs(value) > bound
            ):
                self.error(f"{prop}.{key}", f"must be between -{bound} and {bound}")

    def imagemap_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(
            msg,
            prop,
            ("type", "baseUrl", "altText", "baseSize", "video", "actions", "quickReply", "sender"),
        )
        self.https_url(msg.get("baseUrl"), f"{prop}.baseUrl")
        self.text(msg.get("altText"), f"{prop}.altText", ALT_TEXT_MAX)
        size = self.obj(msg.get("baseSize"), f"{prop}.baseSize")
        if size is not None:
            self.known(size, f"{prop}.baseSize", ("width", "height"))
            self.integer(size.get("width"), f"{prop}.baseSize.width", required=True, minimum=1)
            if isinstance(size.get("width"), int) and size.get("width") != 1040:
                self.error(f"{prop}.baseSize.width", "must be 1040")
            self.integer(size.get("height"), f"{prop}.baseSize.height", required=True, minimum=1)
        video = self.obj(msg.get("video"), f"{prop}.video", required=False)
        if video is not None:
            self.known(
                video,
                f"{prop}.video",
                ("originalContentUrl", "previewImageUrl", "area", "externalLink"),
            )
            self.https_url(video.get("originalContentUrl"), f"{prop}.video.originalContentUrl")
            self.https_url(video.get("previewImageUrl"), f"{prop}.video.previewImageUrl")
            self.area(video.get("area"), f"{prop}.video.area")
            link = self.obj(video.get("externalLink"), f"{prop}.video.externalLink", required=False)
            if link is not None:
                self.known(link, f"{prop}.video.externalLink", ("linkUri", "label"))
                self.uri(link.get("linkUri"), f"{prop}.video.externalLink.linkUri")
                self.text(link.get("label"), f"{prop}.video.externalLink.label", 30)
        actions = self.array(msg.get("actions"), f"{prop}.actions", 1, 50)
        for index, raw in enumerate(actions or ()):
            action_prop = f"{prop}.actions[{index}]"
            action = self.obj(raw, action_prop)
            if action is None:
                continue
            kind = action.get("type")
            self.string(action.get("label"), f"{action_prop}.label", 100)
            self.area(action.get("area"), f"{action_prop}.area")
            if kind == "uri":
                self.known(action, action_prop, ("type", "label", "linkUri", "area"))
                self.uri(action.get("linkUri"), f"{action_prop}.linkUri")
            elif kind == "message":
                self.known(action, action_prop, ("type", "label", "text", "area"))
                self.text(action.get("text"), f"{action_prop}.text", 400)
            elif kind == "clipboard":
                self.known(action, action_prop, ("type", "label", "clipboardText", "area"))
                self.text(action.get("clipboardText"), f"{action_prop}.clipboardText", 1000)
            else:
                self.enum(kind, f"{action_prop}.type", ("uri", "message", "clipboard"), True)

    def area(self, value: Any, prop: str) -> None:
        area = self.obj(value, prop)
        if area is None:
            return
        self.known(area, prop, ("x", "y", "width", "height"))
        self.integer(area.get("x"), f"{prop}.x", required=True)
        self.integer(area.get("y"), f"{prop}.y", required=True)
        self.integer(area.get("width"), f"{prop}.width", required=True, minimum=1)
        self.integer(area.get("height"), f"{prop}.height", required=True, minimum=1)

    # -- template messages ----------------------------------------------------------

    def template_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(msg, prop, ("type", "altText", "template", "quickReply", "sender"))
        self.text(msg.get("altText"), f"{prop}.altText", ALT_TEXT_MAX)
        template = self.obj(msg.get("template"), f"{prop}.template")
        if template is None:
            return
        tprop = f"{prop}.template"
        kind = template.get("type")
        if kind == "buttons":
            self.known(
                template,
                tprop,
                (
                    "type",
                    "thumbnailImageUrl",
                    "imageAspectRatio",
                    "imageSize",
                    "imageBackgroundColor",
                    "title",
                    "text",
                    "defaultAction",
                    "actions",
                ),
            )
            self.template_image(template, tprop)
            self.template_column_text(template, tprop, 160)
            self.actions(template.get("actions"), f"{tprop}.actions", 1, 4, "template")
        elif kind == "confirm":
            self.known(template, tprop, ("type", "text", "actions"))
            self.graphemes(template.get("text"), f"{tprop}.text", 240, required=True)
            self.actions(template.get("actions"), f"{tprop}.actions", 2, 2, "template")
        elif kind == "carousel":
            self.known(template, tprop, ("type", "columns", "imageAspectRatio", "imageSize"))
            self.enum(
                template.get("imageAspectRatio"),
                f"{tprop}.imageAspectRatio",
                ("rectangle", "square"),
            )
            self.enum(template.get("imageSize"), f"{tprop}.imageSize", ("cover", "contain"))
            columns = self.array(template.get("columns"), f"{tprop}.columns", 1, 10)
            shapes: set[tuple[int, bool, bool]] = set()
            for index, raw in enumerate(columns or ()):
                cprop = f"{tprop}.columns[{index}]"
                column = self.obj(raw, cprop)
                if column is None:
                    continue
                self.known(
                    column,
                    cprop,
                    (
                        "thumbnailImageUrl",
                        "imageBackgroundColor",
                        "title",
                        "text",
                        "defaultAction",
                        "actions",
                    ),
                )
                self.https_url(column.get("thumbnailImageUrl"), f"{cprop}.thumbnailImageUrl", False)
                self.color(column.get("imageBackgroundColor"), f"{cprop}.imageBackgroundColor")
                self.template_column_text(column, cprop, 120)
                actions = self.actions(column.get("actions"), f"{cprop}.actions", 1, 3, "template")
                shapes.add(
                    (
                        len(actions) if actions is not None else -1,
                        "thumbnailImageUrl" in column,
                        "title" in column,
                    )
                )
            if len(shapes) > 1:
                self.error(
                    f"{tprop}.columns",
                    "all columns must have the same number of actions"
                    " and the same use of image and title",
                )
        elif kind == "image_carousel":
            self.known(template, tprop, ("type", "columns"))
            columns = self.array(template.get("columns"), f"{tprop}.columns", 1, 10)
            for index, raw in enumerate(columns or ()):
                cprop = f"{tprop}.columns[{index}]"
                column = self.obj(raw, cprop)
                if column is None:
                    continue
                self.known(column, cprop, ("imageUrl", "action"))
                self.https_url(column.get("imageUrl"), f"{cprop}.imageUrl")
                self.action(column.get("action"), f"{cprop}.action", "imageCarousel")
        else:
            self.enum(
                kind, f"{tprop}.type", ("buttons", "confirm", "carousel", "image_carousel"), True
            )

    def template_image(self, template: dict[str, Any], prop: str) -> None:
        self.https_url(template.get("thumbnailImageUrl"), f"{prop}.thumbnailImageUrl", False)
        self.enum(
            template.get("imageAspectRatio"), f"{prop}.imageAspectRatio", ("rectangle", "square")
        )
        self.enum(template.get("imageSize"), f"{prop}.imageSize", ("cover", "contain"))
        self.color(template.get("imageBackgroundColor"), f"{prop}.imageBackgroundColor")

    def template_column_text(self, obj: dict[str, Any], prop: str, plain_max: int) -> None:
        self.graphemes(obj.get("title"), f"{prop}.title", 40, required=False)
        decorated = obj.get("thumbnailImageUrl") is not None or obj.get("title") is not None
        self.graphemes(obj.get("text"), f"{prop}.text", 60 if decorated else plain_max, True)
        if obj.get("defaultAction") is not None:
            self.action(obj.get("defaultAction"), f"{prop}.defaultAction", "templateDefault")

    def actions(self, value: Any, prop: str, lo: int, hi: int, context: str) -> list[Any] | None:
        actions = self.array(value, prop, lo, hi)
        for index, action in enumerate(actions or ()):
            self.action(action, f"{prop}[{index}]", context)
        return actions

    # -- actions ----------------------------------------------------------------------

    def action(self, value: Any, prop: str, context: str) -> None:
        action = self.obj(value, prop)
        if action is None:
            return
        allowed_types, label_required, label_max = _ACTION_CONTEXTS[context]
        kind = action.get("type")
        if kind not in allowed_types:
            self.enum(kind, f"{prop}.type", allowed_types, required=True)
            return
        if kind in ("camera", "cameraRoll", "location"):
            label_required, label_max = True, 20
        self.graphemes(action.get("label"), f"{prop}.label", label_max, label_required)
        if kind == "postback":
            self.known(
                action,
                prop,
                ("type", "label", "data", "displayText", "text", "inputOption", "fillInText"),
            )
            self.string(action.get("data"), f"{prop}.data", POSTBACK_DATA_MAX, required=True)
            self.graphemes(action.get("displayText"), f"{prop}.displayText", 300, False)
            self.graphemes(action.get("text"), f"{prop}.text", 300, False)
            if action.get("displayText") is not None and action.get("text") is not None:
                self.error(f"{prop}.displayText", "displayText and text cannot both be set")
            self.enum(
                action.get("inputOption"),
                f"{prop}.inputOption",
                ("closeRichMenu", "openRichMenu", "openKeyboard", "openVoice"),
            )
            self.graphemes(action.get("fillInText"), f"{prop}.fillInText", 300, False)
        elif kind == "message":
            self.known(action, prop, ("type", "label", "text"))
            self.graphemes(action.get("text"), f"{prop}.text", 300, True)
        elif kind == "uri":
            self.known(action, prop, ("type", "label", "uri", "altUri"))
            self.uri(action.get("uri"), f"{prop}.uri")
            alt = self.obj(action.get("altUri"), f"{prop}.altUri", required=False)
            if alt is not None:
                self.known(alt, f"{prop}.altUri", ("desktop",))
                self.uri(alt.get("desktop"), f"{prop}.altUri.desktop")
        elif kind == "datetimepicker":
            self.known(action, prop, ("type", "label", "data", "mode", "initial", "max", "min"))
            self.string(action.get("data"), f"{prop}.data", POSTBACK_DATA_MAX, required=True)
            mode = action.get("mode")
            self.enum(mode, f"{prop}.mode", ("date", "time", "datetime"), required=True)
            self.datetime_values(action, prop, mode)
        elif kind == "clipboard":
            self.known(action, prop, ("type", "label", "clipboardText"))
            self.text(action.get("clipboardText"), f"{prop}.clipboardText", 1000)
        else:  # camera, cameraRoll, location
            self.known(action, prop, ("type", "label"))

    def datetime_values(self, action: dict[str, Any], prop: str, mode: Any) -> None:
        pattern, lowest, highest = {
            "date": (_DATE, "1900-01-01", "2100-12-31"),
            "time": (_TIME, "00:00", "23:59"),
            "datetime": (_DATETIME, "1900-01-01T00:00", "2100-12-31T23:59"),
        }.get(mode, (None, "", ""))
        if pattern is None:
            return
        parsed: dict[str, str] = {}
        for key in ("initial", "min", "max"):
            value = action.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or not pattern.match(value):
                self.error(f"{prop}.{key}", f"invalid {mode} format")
                continue
            normal = value.upper()
            if not lowest <= normal <= highest:
                self.error(f"{prop}.{key}", f"must be between {lowest} and {highest}")
            parsed[key] = normal
        if "min" in parsed and "max" in parsed and parsed["min"] >= parsed["max"]:
            self.error(f"{prop}.max", "must be greater than min")

    # -- flex ---------------------------------------------------------------------------

    def flex_message(self, msg: dict[str, Any], prop: str) -> None:
        self.known(msg, prop, ("type", "altText", "contents", "quickReply", "sender"))
        self.text(msg.get("altText"), f"{prop}.altText", ALT_TEXT_MAX)
        container = self.obj(msg.get("contents"), f"{prop}.contents")
        if container is None:
            return
        cprop = f"{prop}.contents"
        kind = container.get("type")
        if kind == "bubble":
            self.bubble(container, cprop, in_carousel=False)
        elif kind == "carousel":
            self.known(container, cprop, ("type", "contents"))
            bubbles = self.array(
                container.get("contents"), f"{cprop}.contents", 1, CAROUSEL_MAX_BUBBLES
            )
            for index, raw in enumerate(bubbles or ()):
                bprop = f"{cprop}.contents[{index}]"
                bubble = self.obj(raw, bprop)
                if bubble is None:
                    continue
                if bubble.get("type") != "bubble":
                    self.enum(bubble.get("type"), f"{bprop}.type", ("bubble",), required=True)
                    continue
                self.bubble(bubble, bprop, in_carousel=True)
            size = json_size(container)
            if size > CAROUSEL_MAX_BYTES:
                self.error(
                    cprop, f"carousel JSON is {size} bytes; must be at most {CAROUSEL_MAX_BYTES}"
                )
            if size > BUBBLE_MAX_BYTES:  # only then can one of its bubbles be too large
                for index, bubble in enumerate(bubbles or ()):
                    self.bubble_size(bubble, f"{cprop}.contents[{index}]")
        else:
            self.enum(kind, f"{cprop}.type", ("bubble", "carousel"), required=True)
        if self._animated > ANIMATED_IMAGES_MAX:
            self.error(cprop, f"at most {ANIMATED_IMAGES_MAX} animated images per message")

    def bubble(self, bubble: dict[str, Any], prop: str, in_carousel: bool) -> None:
        self.known(
            bubble,
            prop,
            ("type", "size", "direction", "header", "hero", "body", "footer", "styles", "action"),
        )
        self.enum(bubble.get("size"), f"{prop}.size", _BUBBLE_SIZES)
        self.enum(bubble.get("direction"), f"{prop}.direction", ("ltr", "rtl"))
        for block in ("header", "body", "footer"):
            box = self.obj(bubble.get(block), f"{prop}.{block}", required=False)
            if box is not None:
                if box.get("type") != "box":
                    self.enum(box.get("type"), f"{prop}.{block}.type", ("box",), required=True)
                else:
                    self.component(box, f"{prop}.{block}", None)
        hero = self.obj(bubble.get("hero"), f"{prop}.hero", required=False)
        if hero is not None:
            kind = hero.get("type")
            if kind == "video":
                if in_carousel:
                    self.error(
                        f"{prop}.hero", "a video can't be used in a bubble inside a carousel"
                    )
                if bubble.get("size", "mega") not in _VIDEO_BUBBLE_SIZES:
                    self.error(f"{prop}.hero", "a video needs a bubble of size kilo, mega or giga")
                self.video(hero, f"{prop}.hero")
            elif kind in ("box", "image"):
                self.component(hero, f"{prop}.hero", None)
            else:
                self.enum(kind, f"{prop}.hero.type", ("box", "image", "video"), required=True)
        styles = self.obj(bubble.get("styles"), f"{prop}.styles", required=False)
        if styles is not None:
            self.known(styles, f"{prop}.styles", ("header", "hero", "body", "footer"))
            for block, raw in styles.items():
                sprop = f"{prop}.styles.{block}"
                style = self.obj(raw, sprop)
                if style is None:
                    continue
                self.known(style, sprop, ("backgroundColor", "separator", "separatorColor"))
                self.color(style.get("backgroundColor"), f"{sprop}.backgroundColor")
                self.boolean(style.get("separator"), f"{sprop}.separator")
                self.color(style.get("separatorColor"), f"{sprop}.separatorColor")
        if bubble.get("action") is not None:
            self.action(bubble.get("action"), f"{prop}.action", "flex")
        if not in_carousel:  # the carousel checks its bubbles' sizes itself
            self.bubble_size(bubble, prop)

    def bubble_size(self, bubble: Any, prop: str) -> None:
        size = json_size(bubble)
        if size > BUBBLE_MAX_BYTES:
            self.error(prop, f"bubble JSON is {size} bytes; must be at most {BUBBLE_MAX_BYTES}")

    def component(self, comp: dict[str, Any], prop: str, parent_layout: str | None) -> None:
        kind = comp.get("type")
        if parent_layout == "baseline":
            allowed: tuple[str, ...] = ("icon", "text", "filler")
        elif parent_layout is None:
            allowed = ("box", "image")
        else:
            allowed = ("box", "button", "image", "text", "separator", "filler")
        if kind not in allowed:
            if kind in _FLEX_COMPONENTS or kind == "span":
                where = f"a {parent_layout} box" if parent_layout else "this block"
                self.error(f"{prop}.type", f"{kind} is not allowed in {where}")
            else:
                self.enum(kind, f"{prop}.type", allowed, required=True)
            return
        _FLEX_COMPONENTS[kind](self, comp, prop)

    def props(self, obj: dict[str, Any], prop: str, checks: dict[str, _Check]) -> None:
        """Check each property present in ``obj`` with its table entry; flag unknown ones."""
        for key, value in obj.items():
            check = checks.get(key, _UNKNOWN)
            if check is _UNKNOWN:
                self.error(f"{prop}.{key}", "unknown field")
            elif check is not None:
                check(self, value, f"{prop}.{key}")

    def box(self, box: dict[str, Any], prop: str) -> None:
        layout = box.get("layout")
        if layout is None:
            self.error(f"{prop}.layout", "must be specified")
        if "contents" not in box:
            self.error(f"{prop}.contents", "must be specified")
        self.props(box, prop, _BOX_CHECKS)
        contents = box.get("contents")
        if not isinstance(contents, list):
            return
        child_layout = layout if layout in ("horizontal", "vertical", "baseline") else "vertical"
        for index, raw in enumerate(contents):
            child = self.obj(raw, f"{prop}.contents[{index}]")
            if child is not None:
                self.component(child, f"{prop}.contents[{index}]", child_layout)

    def background(self, value: Any, prop: str) -> None:
        background = self.obj(value, prop)
        if background is None:
            return
        self.known(
            background,
            prop,
            ("type", "angle", "startColor", "endColor", "centerColor", "centerPosition"),
        )
        self.enum(background.get("type"), f"{prop}.type", ("linearGradient",), required=True)
        angle = background.get("angle")
        if angle is None or not isinstance(angle, str) or not _ANGLE.match(angle):
            self.error(f"{prop}.angle", "must be specified as {n}deg")
        elif float(angle[:-3]) >= 360:
            self.error(f"{prop}.angle", "must be in [0deg, 360deg)")
        for key in ("startColor", "endColor"):
            if background.get(key) is None:
                self.error(f"{prop}.{key}", "must be specified")
            self.color(background.get(key), f"{prop}.{key}")
        self.color(background.get("centerColor"), f"{prop}.centerColor")
        position = background.get("centerPosition")
        if position is not None and (
            not isinstance(position, str)
            or not _PERCENT.match(position)
            or float(position[:-1]) > 100
        ):
            self.error(f"{prop}.centerPosition", "must be between 0% and 100%")

    def button(self, button: dict[str, Any], prop: str) -> None:
        if "action" not in button:
            self.error(f"{prop}.action", "must be specified")
        self.props(button, prop, _BUTTON_CHECKS)

    def image(self, image: dict[str, Any], prop: str) -> None:
        if "url" not in image:
            self.error(f"{prop}.url", "must be specified")
        self.props(image, prop, _IMAGE_CHECKS)
        if image.get("animated") is True:
            self._animated += 1

    def video(self, video: dict[str, Any], prop: str) -> None:
        for key in ("url", "previewUrl", "altContent"):
            if key not in video:
                self.error(f"{prop}.{key}", "must be specified")
        self.props(video, prop, _VIDEO_CHECKS)

    def video_alt_content(self, value: Any, prop: str) -> None:
        alt = self.obj(value, prop)
        if alt is not None:
            self.component(alt, prop, None)

    def video_action(self, value: Any, prop: str) -> None:
        action = self.obj(value, prop)
        if action is None:
            return
        if action.get("type") != "uri":
            self.enum(action.get("type"), f"{prop}.type", ("uri",), required=True)
        else:
            self.action(action, prop, "flex")

    def icon(self, icon: dict[str, Any], prop: str) -> None:
        if "url" not in icon:
            self.error(f"{prop}.url", "must be specified")
        self.props(icon, prop, _ICON_CHECKS)

    def flex_text(self, text: dict[str, Any], prop: str) -> None:
        spans = text.get("contents")
        if not spans and not text.get("text"):
            # LINE rejects a text component without text (or spans).
            if isinstance(text.get("text"), str):
                self.error(f"{prop}.text", "May not be empty")
            else:
                self.error(f"{prop}.text", "must be specified")
        self.props(text, prop, _TEXT_CHECKS)

    def spans(self, value: Any, prop: str) -> None:
        spans = self.array(value, prop, 0, None)
        for index, raw in enumerate(spans or ()):
            sprop = f"{prop}[{index}]"
            span = self.obj(raw, sprop)
            if span is None:
                continue
            if span.get("type") != "span":
                self.enum(span.get("type"), f"{sprop}.type", ("span",), required=True)
            else:
                self.props(span, sprop, _SPAN_CHECKS)

    def separator(self, separator: dict[str, Any], prop: str) -> None:
        self.props(separator, prop, _SEPARATOR_CHECKS)

    def filler(self, filler: dict[str, Any], prop: str) -> None:
        self.props(filler, prop, _FILLER_CHECKS)


_Check = Callable[[_Walker, Any, str], None] | None
_UNKNOWN: Any = object()


def _enum(*values: str) -> _Check:
    return lambda walker, value, prop: walker.enum(value, prop, values)


def _css(*keywords: str, percent: bool = True, negative: bool = False) -> _Check:
    return lambda walker, value, prop: walker.css_length(value, prop, keywords, percent, negative)


def _flex_action(context: str) -> _Check:
    return lambda walker, value, prop: walker.action(value, prop, context)


def _string(walker: _Walker, value: Any, prop: str) -> None:
    walker.string(value, prop)


def _https(walker: _Walker, value: Any, prop: str) -> None:
    walker.https_url(value, prop)


_COLOR_CHECK: _Check = _Walker.color
_BOOL_CHECK: _Check = _Walker.boolean
_INT_CHECK: _Check = _Walker.integer

_PLACEMENT_CHECKS: dict[str, _Check] = {
    "type": None,
    "flex": _INT_CHECK,
    "margin": _css(*_SPACING_KEYWORDS, percent=False),
    "position": _enum(*_POSITION),
    "offsetTop": _css(*_SPACING_KEYWORDS, negative=True),
    "offsetBottom": _css(*_SPACING_KEYWORDS, negative=True),
    "offsetStart": _css(*_SPACING_KEYWORDS, negative=True),
    "offsetEnd": _css(*_SPACING_KEYWORDS, negative=True),
}
_TEXT_STYLE_CHECKS: dict[str, _Check] = {
    "size": _css(*_FONT_SIZES, percent=False),
    "weight": _enum("regular", "bold"),
    "color": _COLOR_CHECK,
    "style": _enum("normal", "italic"),
    "decoration": _enum("none", "underline", "line-through"),
}
_BOX_CHECKS: dict[str, _Check] = {
    **_PLACEMENT_CHECKS,
    "layout": _enum("horizontal", "vertical", "baseline"),
    "contents": lambda walker, value, prop: walker.array(value, prop, 0, None),
    "backgroundColor": _COLOR_CHECK,
    "borderColor": _COLOR_CHECK,
    "borderWidth": _css(*_BORDER_WIDTHS, percent=False),
    "cornerRadius": _css(*_SPACING_KEYWORDS, percent=False),
    "width": _css(),
    "maxWidth": _css(),
    "height": _css(),
    "maxHeight": _css(),
    "spacing": _css(*_SPACING_KEYWORDS, percent=False),
    "paddingAll": _css(*_SPACING_KEYWORDS),
    "paddingTop": _css(*_SPACING_KEYWORDS),
    "paddingBottom": _css(*_SPACING_KEYWORDS),
    "paddingStart": _css(*_SPACING_KEYWORDS),
    "paddingEnd": _css(*_SPACING_KEYWORDS),
    "action": _flex_action("flex"),
    "justifyContent": _enum(
        "center", "flex-start", "flex-end", "space-between", "space-around", "space-evenly"
    ),
    "alignItems": _enum("center", "flex-start", "flex-end"),
    "background": _Walker.background,
}
_BUTTON_CHECKS: dict[str, _Check] = {
    **_PLACEMENT_CHECKS,
    "action": _flex_action("flexButton"),
    "height": _enum("sm", "md"),
    "style": _enum("primary", "secondary", "link"),
    "color": _COLOR_CHECK,
    "gravity": _enum(*_GRAVITY),
    "adjustMode": _enum("shrink-to-fit"),
    "scaling": _BOOL_CHECK,
}
_IMAGE_CHECKS: dict[str, _Check] = {
    **_PLACEMENT_CHECKS,
    "url": _https,
    "align": _enum(*_ALIGN),
    "gravity": _enum(*_GRAVITY),
    "size": _css(*_IMAGE_SIZES),
    "aspectRatio": _Walker.aspect_ratio,
    "aspectMode": _enum("cover", "fit"),
    "backgroundColor": _COLOR_CHECK,
    "action": _flex_action("flex"),
    "animated": _BOOL_CHECK,
}
_VIDEO_CHECKS: dict[str, _Check] = {
    "type": None,
    "url": _https,
    "previewUrl": _https,
    "altContent": _Walker.video_alt_content,
    "aspectRatio": _Walker.aspect_ratio,
    "action": _Walker.video_action,
}
_ICON_CHECKS: dict[str, _Check] = {
    **{key: check for key, check in _PLACEMENT_CHECKS.items() if key != "flex"},
    "url": _https,
    "size": _css(*_FONT_SIZES, percent=False),
    "scaling": _BOOL_CHECK,
    "aspectRatio": _Walker.aspect_ratio,
}
_TEXT_CHECKS: dict[str, _Check] = {
    **_PLACEMENT_CHECKS,
    **_TEXT_STYLE_CHECKS,
    "text": _string,
    "contents": _Walker.spans,
    "adjustMode": _enum("shrink-to-fit"),
    "scaling": _BOOL_CHECK,
    "align": _enum(*_ALIGN),
    "gravity": _enum(*_GRAVITY),
    "wrap": _BOOL_CHECK,
    "lineSpacing": _css(percent=False),
    "maxLines": _INT_CHECK,
    "action": _flex_action("flex"),
}
_SPAN_CHECKS: dict[str, _Check] = {"type": None, "text": _string, **_TEXT_STYLE_CHECKS}
_SEPARATOR_CHECKS: dict[str, _Check] = {
    "type": None,
    "margin": _css(*_SPACING_KEYWORDS, percent=False),
    "color": _COLOR_CHECK,
}
_FILLER_CHECKS: dict[str, _Check] = {"type": None, "flex": _INT_CHECK}

_FLEX_COMPONENTS: dict[str, Callable[[_Walker, dict[str, Any], str], None]] = {
    "box": _Walker.box,
    "button": _Walker.button,
    "image": _Walker.image,
    "video": _Walker.video,
    "icon": _Walker.icon,
    "text": _Walker.flex_text,
    "separator": _Walker.separator,
    "filler": _Walker.filler,
}

_MESSAGE_HANDLERS: dict[str, Callable[[_Walker, dict[str, Any], str], None]] = {
    "text": _Walker.text_message,
    "textV2": _Walker.text_v2_message,
    "sticker": _Walker.sticker_message,
    "image": _Walker.image_message,
    "video": _Walker.video_message,
    "audio": _Walker.audio_message,
    "location": _Walker.location_message,
    "imagemap": _Walker.imagemap_message,
    "template": _Walker.template_message,
    "flex": _Walker.flex_message,
}
