"""Rendering a delivery for e-mail (subject, HTML, plain text) and SMS (short text).

The templates are Jinja files in `bot/delivery/templates/` (`email/<name>.subject.txt`,
`email/<name>.html`, `email/<name>.txt`, `sms/<name>.txt`), fed the same data as the Flex
template of the same name (`render.template_data`). HTML is autoescaped; the text parts are
not HTML and are not escaped. Links go through `link(url)`, which the sender makes a tracked
`/r/` link. No database, no network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from bot.email.compose import EmailContent
from flex_templates.formatting import format_datetime, format_price, parse_datetime

TEMPLATES_DIR = Path(__file__).parent / "templates"
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "flex_templates" / "samples"
SMS_SINGLE = 70  # UCS-2 characters in one SMS
SMS_PART = 67  # per part of a concatenated SMS (the rest carries the part header)
SMS_WARN_SEGMENTS = 2


class ChannelTemplateError(Exception):
    """A channel template is missing or cannot be rendered with the data."""


def _yen(value: object) -> str:
    return format_price(int(value)) if isinstance(value, int | float) else ""


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["yen"] = _yen
    return env


_HTML = _environment(True)
_TEXT = _environment(False)


def has_email(template: str) -> bool:
    """Whether an e-mail version of the template exists."""
    return all(
        (TEMPLATES_DIR / "email" / f"{template}.{part}").is_file()
        for part in ("subject.txt", "html", "txt")
    )


def has_sms(template: str) -> bool:
    """Whether an SMS version of the template exists."""
    return (TEMPLATES_DIR / "sms" / f"{template}.txt").is_file()


def _context(data: Mapping[str, Any], link: Callable[[str], str], tz: Any) -> dict[str, Any]:
    def deadline(value: object) -> str:
        if isinstance(value, str | datetime):
            return format_datetime(parse_datetime(value), tz)
        return ""

    return {"d": data, "link": link, "local_time": deadline, **data}


def render_email(
    template: str,
    data: Mapping[str, Any],
    *,
    link: Callable[[str], str],
    footer: Mapping[str, Any],
    tz: Any,
) -> EmailContent:
    """Render the e-mail version of a template; `footer` holds the sender's identity and the
    unsubscribe URL (None for a transactional mail)."""
    context = {**_context(data, link, tz), "footer": footer}
    try:
        subject = _TEXT.get_template(f"email/{template}.subject.txt").render(context)
        html = _HTML.get_template(f"email/{template}.html").render(context)
        text = _TEXT.get_template(f"email/{template}.txt").render(context)
    except jinja2.TemplateNotFound as exc:
        raise ChannelTemplateError(f"no e-mail template {exc.name}") from exc
    except jinja2.UndefinedError as exc:
        raise ChannelTemplateError(f"e-mail template {template}: {exc}") from exc
    # A header is one line: a line break in the data must not add a header.
    return EmailContent(" ".join(subject.split()), html, text.strip() + "\n")


def render_sms(
    template: str,
    data: Mapping[str, Any],
    *,
    link: Callable[[str], str],
    opt_out: str | None,
    tz: Any,
) -> str:
    """Render the SMS version of a template; `opt_out` is appended to marketing texts."""
    context = {**_context(data, link, tz), "opt_out": opt_out}
    try:
        body = _TEXT.get_template(f"sms/{template}.txt").render(context)
    except jinja2.TemplateNotFound as exc:
        raise ChannelTemplateError(f"no SMS template {exc.name}") from exc
    except jinja2.UndefinedError as exc:
        raise ChannelTemplateError(f"SMS template {template}: {exc}") from exc
    lines = [line.strip() for line in body.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def ucs2_units(text: str) -> int:
    """The text's length in UCS-2 code units (a character outside the BMP takes two)."""
    return len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> int:
    """How many SMS a text takes in UCS-2: 70 characters alone, 67 per part once split."""
    units = ucs2_units(text)
    if units <= SMS_SINGLE:
        return 1
    return math.ceil(units / SMS_PART)


def sample_data(template: str) -> dict[str, Any] | None:
    """The Flex template's sample data (flex_templates/samples), if it has some."""
    path = SAMPLES_DIR / f"{template}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


SAMPLE_LINK = "https://shop.example.jp/r/s/1a2b3c.AbCdEfGhIjK"  # as long as a real short link


def sms_warnings(template: str, tz: Any) -> list[str]:
    """Warnings for an SMS template that renders (with its sample data) past 2 segments."""
    data = sample_data(template)
    if data is None or not has_sms(template):
        return []
    text = render_sms(
        template, data, link=lambda _url: SAMPLE_LINK, opt_out="停止は「停止」と返信", tz=tz
    )
    count = sms_segments(text)
    if count > SMS_WARN_SEGMENTS:
        return [
            f"sms/{template}.txt renders to {ucs2_units(text)} characters: {count} SMS "
            f"segments (more than {SMS_WARN_SEGMENTS} cost more and may arrive split)"
        ]
    return []
