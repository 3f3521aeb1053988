"""Display helpers for templates: truncation, yen prices, shop-local dates, safe URLs."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from line_messages.links import is_web_url

ELLIPSIS = "…"
WEEKDAYS_JA = "月火水木金土日"
_ZWJ = "\u200d"


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit LINE counts most text limits in."""
    return len(text.encode("utf-16-le")) // 2


def _joins_previous(char: str) -> bool:
    """True if the character belongs to the grapheme cluster before it."""
    code = ord(char)
    return (
        char == _ZWJ
        or unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag characters (flag sequences)
    )


def truncate(text: str, max_length: int, ellipsis: str = ELLIPSIS) -> str:
    """Shorten text to at most max_length UTF-16 units, ending in 「…」 and never splitting
    an emoji or a base character from its combining marks."""
    if max_length < 1:
        raise ValueError("max_length must be positive")
    if utf16_len(text) <= max_length:
        return text
    budget = max_length - utf16_len(ellipsis)
    if budget <= 0:
        return ellipsis[:max_length]
    cut = 0
    used = 0
    for char in text:
        used += utf16_len(char)
        if used > budget:
            break
        cut += 1
    # Back off to a cluster boundary: the first dropped char must not continue the kept one.
    while cut > 0 and (_joins_previous(text[cut]) or text[cut - 1] == _ZWJ):
        cut -= 1
    return text[:cut].rstrip() + ellipsis


def one_line(text: str) -> str:
    """Collapse line breaks and runs of whitespace, for places that must stay on one line."""
    return " ".join(text.split())


def format_price(yen: int) -> str:
    """Format a yen amount like ¥12,800."""
    sign = "-" if yen < 0 else ""
    return f"{sign}¥{abs(yen):,}"


def parse_datetime(value: datetime | str) -> datetime:
    """Accept an aware datetime or an ISO 8601 string with an offset; naive values are refused."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"datetime must carry a time zone: {value!r}")
    return parsed


def parse_date(value: date | datetime | str, tz: ZoneInfo) -> date:
    """A calendar date in the shop's zone from a date, an aware datetime, or an ISO string."""
    if isinstance(value, datetime):
        return parse_datetime(value).astimezone(tz).date()
    if isinstance(value, date):
        return value
    if "T" in value or " " in value.strip():
        return parse_datetime(value).astimezone(tz).date()
    return date.fromisoformat(value)


def format_date(value: date, *, with_year: bool = True) -> str:
    """Japanese date like 2025年7月3日(木)."""
    weekday = WEEKDAYS_JA[value.weekday()]
    prefix = f"{value.year}年" if with_year else ""
    return f"{prefix}{value.month}月{value.day}日({weekday})"


def format_datetime(value: datetime, tz: ZoneInfo, *, with_year: bool = True) -> str:
    """Japanese local date and time like 2025年7月3日(木) 23:59 in the given zone."""
    local = parse_datetime(value).astimezone(tz)
    return f"{format_date(local.date(), with_year=with_year)} {local:%H:%M}"


# Characters that keep their meaning in a URL; everything else (spaces, kana) is escaped.
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~"


def encode_url(url: str) -> str:
    """Percent-encode spaces and non-ASCII characters, which LINE rejects in URLs."""
    return quote(url.strip(), safe=_URL_SAFE)


def web_url(url: object) -> str | None:
    """The URL percent-encoded if it is an absolute http(s) link, else None."""
    if isinstance(url, str) and url.strip() and is_web_url(url.strip()):
        return encode_url(url)
    return None


def image_url(url: object, placeholder: str) -> str:
    """The image URL if LINE can show it (https), else the shop's placeholder image."""
    checked = web_url(url)
    if checked and checked.lower().startswith("https://"):
        return checked
    return placeholder
