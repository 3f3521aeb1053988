"""Load, validate and render the message templates (shipped defaults plus shop overrides)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from linebot.v3.messaging import FlexMessage

from flex_templates import builders
from flex_templates.builders import Builder, RenderEnv, TemplateDataError
from flex_templates.engine import Layout, LinkWrapper, RenderError, fill_layout, wrap_links
from line_messages.validation import validate_messages

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLES_DIRNAME = "samples"
DEFAULT_PLACEHOLDER_IMAGE_URL = "https://placehold.jp/600x600.png?text=No%20Image"
DEFAULT_TIMEZONE = "Asia/Tokyo"
_FILE_NAME = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)(?:@(?P<variant>[A-Za-z0-9_-]+))?\.json$")


class TemplateError(Exception):
    """A template file is unusable, or a render failed; the message names the file and reason."""


@dataclass(frozen=True)
class TemplateSpec:
    """A template the bot knows: its builder and whether it is a marketing message."""

    name: str
    builder: Builder
    marketing: bool


SPECS: dict[str, TemplateSpec] = {
    spec.name: spec
    for spec in (
        TemplateSpec("cart_reminder", builders.build_cart_reminder, True),
        TemplateSpec("cart_incentive", builders.build_cart_incentive, True),
        TemplateSpec("cart_low_stock", builders.build_cart_low_stock, True),
        TemplateSpec("purchase_thanks", builders.build_purchase_thanks, False),
        TemplateSpec("shipping_notice", builders.build_shipping_notice, False),
        TemplateSpec("payment_reminder", builders.build_payment_reminder, False),
        TemplateSpec("review_request", builders.build_review_request, False),
        TemplateSpec("repeat_offer", builders.build_repeat_offer, True),
        TemplateSpec("restock_notice", builders.build_restock_notice, True),
        TemplateSpec("faq_answer", builders.build_faq_answer, False),
        TemplateSpec("faq_candidates", builders.build_faq_candidates, False),
        TemplateSpec("account_link_prompt", builders.build_account_link_prompt, False),
        TemplateSpec("escalation_handed", builders.build_escalation_handed, False),
        TemplateSpec("escalation_off_hours", builders.build_escalation_off_hours, False),
        TemplateSpec("escalation_returned", builders.build_escalation_returned, False),
        TemplateSpec("abandonment_survey", builders.build_abandonment_survey, True),
    )
}


@dataclass(frozen=True)
class Template:
    """One loaded layout file for a template name and optional variant."""

    name: str
    variant: str | None
    path: Path
    layout: Layout


def _has_optout(message: Mapping[str, Any]) -> bool:
    items = message.get("quickReply", {}).get("items", [])
    return any(item.get("action", {}).get("data") == builders.OPTOUT_DATA for item in items)


class TemplateRegistry:
    """All templates by name and variant; renders LINE message dicts."""

    def __init__(
        self,
        templates: Mapping[tuple[str, str | None], Template],
        env: RenderEnv,
        samples: Mapping[str, Path],
    ) -> None:
        self._templates = dict(templates)
        self.env = env
        self._samples = dict(samples)

    def names(self) -> list[str]:
        """Template names, sorted."""
        return sorted({name for name, _ in self._templates})

    def variants(self, name: str) -> list[str]:
        """Variant names available for a template (the default one not included)."""
        return sorted(v for n, v in self._templates if n == name and v is not None)

    def is_marketing(self, name: str) -> bool:
        """True for marketing messages, which need consent and carry a 「配信停止」 option."""
        if name not in SPECS:
            raise TemplateError(f"unknown template {name!r}")
        return SPECS[name].marketing

    def template(self, name: str, variant: str | None = None) -> Template:
        """The loaded layout for a name and variant; TemplateError if there is none."""
        found = self._templates.get((name, variant))
        if found is None:
            what = f"{name}@{variant}" if variant else name
            raise TemplateError(f"unknown template {what!r}")
        return found

    def layout(self, name: str, variant: str | None = None) -> dict[str, Any]:
        """A copy of the raw layout, placeholders unfilled."""
        return copy.deepcopy(self.template(name, variant).layout.container)

    def sample(self, name: str) -> dict[str, Any]:
        """The sample data used to check a template."""
        path = self._samples.get(name)
        if path is None:
            raise TemplateError(f"no sample data for {name!r}")
        return _read_json(path)

    def render(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        variant: str | None = None,
        link: LinkWrapper | None = None,
        marketing: bool = False,
    ) -> dict[str, Any]:
        """Render one LINE flex message (altText, contents, quickReply) from the data.

        A marketing template, or `marketing=True` (a step that makes an offer with any
        template), gets the 「配信停止」 quick reply.
        """
        template = self.template(name, variant)
        spec = SPECS[name]
        built = spec.builder(data, self.env)
        try:
            container = fill_layout(template.layout, built.scope)
        except RenderError as exc:
            raise TemplateError(f"{template.path.name}: {exc}") from exc
        message: dict[str, Any] = {"type": "flex", "altText": built.alt_text, "contents": container}
        _add_quick_replies(message, spec, built, marketing)
        if link is not None:
            wrap_links(message, link)
        return message

    def render_for_line(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        variant: str | None = None,
        link: LinkWrapper | None = None,
        marketing: bool = False,
    ) -> tuple[dict[str, Any], str | None]:
        """Render a message LINE will accept, degrading when the full one breaks its limits.

        Tries the full message, then carousels with fewer item bubbles (the rest summed up
        in 「他N点」), then plain text with the message's main link. Returns the message and
        how it was degraded (None if not); TemplateError names LINE's objection when even
        the text is refused, so the caller can fail it for good rather than retry.
        """
        message = self.render(name, data, variant=variant, link=link, marketing=marketing)
        problems = validate_messages([message])
        if not problems:
            return message, None
        first = _problem(problems)
        for cap in DEGRADED_ITEM_BUBBLES:
            smaller = {**data, builders.ITEM_BUBBLES_KEY: cap}
            message = self.render(name, smaller, variant=variant, link=link, marketing=marketing)
            if not validate_messages([message]):
                return message, f"{first}: sent with {cap} item bubbles"
        text = self._text_fallback(name, data, link=link, marketing=marketing)
        problems = validate_messages([text])
        if not problems:
            return text, f"{first}: sent as text"
        raise TemplateError(f"no valid message: {first}; as text, {_problem(problems)}")

    def _text_fallback(
        self, name: str, data: Mapping[str, Any], *, link: LinkWrapper | None, marketing: bool
    ) -> dict[str, Any]:
        """The message as one text: its notification line and its main link."""
        spec = SPECS[name]
        built = spec.builder(data, self.env)
        lines = [built.alt_text]
        if built.link is not None:
            lines.append(link(built.link, "text") if link is not None else built.link)
        message: dict[str, Any] = {"type": "text", "text": "\n".join(lines)}
        _add_quick_replies(message, spec, built, marketing)
        return message

    def check(self, template: Template) -> list[str]:
        """Reasons a template cannot be sent, from rendering its sample data; empty if fine."""
        try:
            data = self.sample(template.name)
            message = self.render(template.name, data, variant=template.variant)
        except (TemplateError, TemplateDataError) as exc:
            return [str(exc)]
        problems = [
            f"{error.get('property', '')}: {error.get('message', '')}"
            for error in validate_messages([message])
        ]
        try:
            FlexMessage.from_dict(message)
        except ValueError as exc:
            problems.append(f"LINE SDK model: {exc}")
        if SPECS[template.name].marketing and not _has_optout(message):
            problems.append("marketing message without a 配信停止 option")
        return problems

    def check_all(self) -> None:
        """Render every template with sample data; raise TemplateError on the first bad one."""
        for key in sorted(self._templates, key=lambda k: (k[0], k[1] or "")):
            template = self._templates[key]
            problems = self.check(template)
            if problems:
                raise TemplateError(f"{template.path}: " + "; ".join(problems))


# Item bubbles (「他N点」 included) to try, in turn, when a carousel is over LINE's limits.
DEGRADED_ITEM_BUBBLES = (6, 3, 2)


def _add_quick_replies(
    message: dict[str, Any], spec: TemplateSpec, built: builders.Built, marketing: bool
) -> None:
    """The builder's quick replies, plus 「配信停止」 on a marketing message."""
    quick = list(built.quick_replies)
    if spec.marketing or marketing:
        quick.append(builders.optout_quick_reply())
    if quick:
        message["quickReply"] = {"items": quick}


def _problem(problems: list[dict[str, Any]]) -> str:
    """LINE's first objection, as `property: message`."""
    return f"{problems[0].get('property', '')}: {problems[0].get('message', '')}"


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}: invalid JSON ({exc})") from exc


def _load_file(path: Path) -> Template:
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise TemplateError(f"{path}: file name must be <name>.json or <name>@<variant>.json")
    name, variant = match.group("name"), match.group("variant")
    if name not in SPECS:
        raise TemplateError(f"{path}: unknown template name {name!r}")
    raw = _read_json(path)
    if not isinstance(raw, dict) or raw.get("type") not in ("bubble", "carousel"):
        raise TemplateError(f"{path}: a layout must be a Flex bubble or carousel object")
    try:
        layout = Layout(raw)
    except RenderError as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    return Template(name, variant, path, layout)


def _scan(folder: Path) -> dict[tuple[str, str | None], Template]:
    found: dict[tuple[str, str | None], Template] = {}
    for path in sorted(folder.glob("*.json")):
        template = _load_file(path)
        found[(template.name, template.variant)] = template
    return found


def load_templates(
    override_dir: Path | None = None,
    *,
    placeholder_image_url: str = DEFAULT_PLACEHOLDER_IMAGE_URL,
    timezone: str = DEFAULT_TIMEZONE,
    max_name_length: int = 40,
    validate: bool = True,
) -> TemplateRegistry:
    """Load the shipped templates, then the shop's overrides and variants, and check them all."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TemplateError(f"unknown time zone {timezone!r}") from exc
    templates = _scan(PACKAGE_DIR)
    samples = {p.stem: p for p in (PACKAGE_DIR / SAMPLES_DIRNAME).glob("*.json")}
    if override_dir is not None:
        if not override_dir.is_dir():
            raise TemplateError(f"{override_dir}: templates folder does not exist")
        templates.update(_scan(override_dir))
        samples.update({p.stem: p for p in (override_dir / SAMPLES_DIRNAME).glob("*.json")})
    missing = sorted(set(SPECS) - {name for name, variant in templates if variant is None})
    if missing:
        raise TemplateError(f"{PACKAGE_DIR}: no layout for {', '.join(missing)}")
    env = RenderEnv(tz, placeholder_image_url, max_name_length)
    registry = TemplateRegistry(templates, env, samples)
    if validate:
        registry.check_all()
    return registry
