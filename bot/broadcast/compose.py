"""Composing a broadcast from the console form: the message, the segment and the time.

Everything the form sends is checked here and refused with a reason in Japanese: the
message with LINE's own rules (`line_messages.validate_messages`), the segment with the
scenario file's condition language (`bot.delivery.conditions`), the time in the shop's
time zone. Nothing here reads the database or talks to LINE.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import yaml

from bot.core.settings import Settings
from bot.delivery.conditions import Condition, ConditionError, attributes_used, parse_condition
from flex_templates.builders import OPTOUT_DATA, TemplateDataError, optout_quick_reply
from line_messages import validate_messages

if TYPE_CHECKING:
    from flex_templates import TemplateRegistry

MAX_TITLE = 100
MAX_SEGMENT = 2000  # characters of the segment condition
MAX_FLEX_JSON = 60_000  # characters of a pasted Flex JSON (LINE's carousel limit is 50 KB)
MAX_TEMPLATE_DATA = 20_000
MAX_ALT_TEXT = 400  # LINE allows 1,500; a notification line longer than this is cut anyway
MAX_AHEAD = timedelta(days=180)
# Attributes a broadcast has no value for: a cart belongs to a flow, not to a shopper.
NOT_FOR_BROADCASTS = {"cart_value"}
# Two different names: a template whose message differs between them is personalised.
PROBE_NAMES = ("山田 花子", "佐藤 一郎")


class ComposeError(ValueError):
    """The form cannot be used as it is; the text says why, in Japanese."""


@dataclass(frozen=True)
class Content:
    """The message a broadcast sends, and how to make it per shopper if it is personalised."""

    message: dict[str, Any]
    template: str | None = None
    template_variant: str | None = None
    template_data: dict[str, Any] | None = None
    personalised: bool = False


def parse_title(raw: str) -> str:
    """The broadcast's name in the console (required, one line)."""
    title = " ".join(raw.split())
    if not title:
        raise ComposeError("配信名を入力してください。")
    if len(title) > MAX_TITLE:
        raise ComposeError(f"配信名は{MAX_TITLE}文字以内で入力してください。")
    return title


def parse_segment(raw: str | None) -> Condition | None:
    """The segment written as a scenario's `when:` (one comparison or all/any/not in YAML);
    None (empty) is every friend."""
    text = (raw or "").strip()
    if not text:
        return None
    if len(text) > MAX_SEGMENT:
        raise ComposeError(f"配信先の条件は{MAX_SEGMENT:,}文字以内で入力してください。")
    try:
        # YAML aliases could make a short text expand into a huge condition tree.
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text)):
            raise ComposeError("配信先の条件にYAMLの参照（*）は使えません。")
        raw_condition = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ComposeError(
            "配信先の条件を読めません。シナリオの when: と同じ書き方で入力してください"
            "（例: tags contains vip）。"
        ) from None
    try:
        condition = parse_condition(raw_condition)
    except ConditionError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise ComposeError(
            f"配信先の条件が正しくありません（{where + ': ' if where else ''}{exc.message}）。"
        ) from None
    unusable = sorted(attributes_used(condition) & NOT_FOR_BROADCASTS)
    if unusable:
        raise ComposeError(
            f"{', '.join(unusable)} はカートごとの値のため、一斉配信の条件には使えません。"
        )
    return condition


def parse_send_at(when: str, raw: str, settings: Settings, now: datetime) -> datetime:
    """When to send (aware UTC): now, or the form's shop-local date and time."""
    if when == "now":
        return now
    if when != "later":
        raise ComposeError("送信のタイミングを選んでください。")
    try:
        local = datetime.strptime(raw.strip(), "%Y-%m-%dT%H:%M")
    except ValueError:
        raise ComposeError("予約日時を正しく入力してください（例: 2025-07-01T18:00）。") from None
    at = local.replace(tzinfo=settings.tz).astimezone(UTC)
    if at <= now:
        raise ComposeError("予約日時には、これから先の日時を入力してください。")
    if at > now + MAX_AHEAD:
        raise ComposeError(f"予約できるのは{MAX_AHEAD.days}日先までです。")
    return at


def _problems(message: dict[str, Any]) -> str | None:
    found = validate_messages([message])
    if not found:
        return None
    shown = "; ".join(
        f"{p.get('property', '')}: {p.get('message', '')}".strip(": ") for p in found[:3]
    )
    more = f" ほか{len(found) - 3}件" if len(found) > 3 else ""
    return f"LINEが受け付けないメッセージです（{shown}{more}）。"


def _with_optout(message: dict[str, Any]) -> dict[str, Any]:
    """A broadcast is marketing: it carries the 「配信停止」 quick reply like every other."""
    quick = message.get("quickReply")
    items = list(quick.get("items") or []) if isinstance(quick, Mapping) else []
    if not any(
        isinstance(i, Mapping) and (i.get("action") or {}).get("data") == OPTOUT_DATA for i in items
    ):
        items.append(optout_quick_reply())
    return {**message, "quickReply": {"items": items}}


def from_flex_json(raw: str, alt_text: str) -> Content:
    """A pasted Flex message: a bubble or carousel (with the form's notification text), or a
    whole `{"type": "flex", ...}` message; checked with LINE's rules."""
    text = raw.strip()
    if not text:
        raise ComposeError("Flex JSON を入力してください。")
    if len(text) > MAX_FLEX_JSON:
        raise ComposeError(f"Flex JSON が大きすぎます（{MAX_FLEX_JSON:,}文字まで）。")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ComposeError(
            f"Flex JSON を読めません（{exc.lineno}行目 {exc.colno}文字目）。"
        ) from None
    if not isinstance(parsed, dict):
        raise ComposeError("Flex JSON はオブジェクト（{ ... }）で入力してください。")
    alt = " ".join(alt_text.split())
    if len(alt) > MAX_ALT_TEXT:
        raise ComposeError(f"通知文は{MAX_ALT_TEXT}文字以内で入力してください。")
    kind = parsed.get("type")
    if kind == "flex":
        message = dict(parsed)
        if alt:
            message["altText"] = alt
    elif kind in ("bubble", "carousel"):
        if not alt:
            raise ComposeError("通知文（トークリストや通知に表示される文）を入力してください。")
        message = {"type": "flex", "altText": alt, "contents": parsed}
    else:
        raise ComposeError(
            "Flex JSON は bubble か carousel、または type が flex のメッセージにしてください。"
        )
    message = _with_optout(message)
    problem = _problems(message)
    if problem:
        raise ComposeError(problem)
    return Content(message)


# Templates about the shop's products, which read right sent to many: the cart templates
# and the abandonment survey speak of the shopper's own cart.
BROADCAST_TEMPLATES = ("repeat_offer", "restock_notice")


def broadcast_templates(templates: TemplateRegistry) -> list[str]:
    """The templates a broadcast may use (marketing ones: they carry 「配信停止」)."""
    names = set(templates.names())
    return [n for n in BROADCAST_TEMPLATES if n in names and templates.is_marketing(n)]


def template_data_text(templates: TemplateRegistry, name: str, settings: Settings) -> str:
    """The data a template is composed with at first: its sample, without a shopper's name."""
    data = dict(templates.sample(name))
    data.pop("shopper_name", None)
    data.update(shop_name=settings.shop_name, help_url=settings.help_url)
    return json.dumps(data, ensure_ascii=False, indent=2)


def render_template(
    templates: TemplateRegistry,
    name: str,
    variant: str | None,
    data: Mapping[str, Any],
    shopper_name: str | None,
) -> dict[str, Any]:
    """The template's message for one shopper (None: no name, 「お客様」)."""
    filled = {k: v for k, v in data.items() if k != "shopper_name"}
    if shopper_name:
        filled["shopper_name"] = shopper_name
    message, _degraded = templates.render_for_line(name, filled, variant=variant, marketing=True)
    return message


def from_template(
    templates: TemplateRegistry,
    name: str,
    variant: str,
    data_text: str,
    *,
    personalise: bool,
    settings: Settings,
) -> Content:
    """A registered Flex template filled with the form's data (JSON).

    With `personalise`, the shopper's name is put in per shopper when the template uses it:
    the message then differs per shopper and goes out as one push each instead of multicast.
    """
    if name not in broadcast_templates(templates):
        raise ComposeError("テンプレートを選んでください。")
    chosen = variant.strip() or None
    if chosen is not None and chosen not in templates.variants(name):
        raise ComposeError("テンプレートのバリエーションを選び直してください。")
    if len(data_text) > MAX_TEMPLATE_DATA:
        raise ComposeError(f"差し込むデータが大きすぎます（{MAX_TEMPLATE_DATA:,}文字まで）。")
    try:
        data = json.loads(data_text or "{}")
    except json.JSONDecodeError as exc:
        raise ComposeError(
            f"差し込むデータ（JSON）を読めません（{exc.lineno}行目 {exc.colno}文字目）。"
        ) from None
    if not isinstance(data, dict):
        raise ComposeError("差し込むデータは JSON のオブジェクト（{ ... }）で入力してください。")
    data.pop("shopper_name", None)
    data.setdefault("shop_name", settings.shop_name)
    data.setdefault("help_url", settings.help_url)
    try:
        plain = render_template(templates, name, chosen, data, None)
        named = [render_template(templates, name, chosen, data, n) for n in PROBE_NAMES]
    except TemplateDataError as exc:
        raise ComposeError(f"テンプレートに必要なデータが足りません（{exc}）。") from None
    except Exception as exc:  # TemplateError: LINE refuses even the degraded message
        raise ComposeError(f"テンプレートからメッセージを作れません（{exc}）。") from None
    personalised = personalise and named[0] != named[1]
    problem = _problems(plain)
    if problem:
        raise ComposeError(problem)
    return Content(
        message=named[0] if personalised else plain,
        template=name,
        template_variant=chosen,
        template_data=data,
        personalised=personalised,
    )
