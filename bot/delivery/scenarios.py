"""Step-delivery scenarios as data: load the YAML a shop can edit into the engine's objects.

The file's shape and rules are the pydantic models of `bot.delivery.scenario_schema`; this
module reads the file, checks it with them, tells the first refusal in words (file, scenario,
field path), and turns the checked file into the frozen `ScenarioBook` the engine uses.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bot.core.settings import REPO_ROOT, ConfigError
from bot.delivery.conditions import Condition
from bot.delivery.scenario_schema import (
    CATEGORIES,
    EXITS,
    KNOWN_TEMPLATES,
    LOC_KEY,
    PATTERN_WORDS,
    TRIGGERS,
    ScenarioFile,
    ScenarioSpec,
    StepSpec,
    VariantSpec,
)
from bot.shop_api.validation import field_path

log = logging.getLogger(__name__)
DEFAULT_SCENARIOS_PATH = REPO_ROOT / "data" / "scenarios.yaml"
TEMPLATES_DIR = REPO_ROOT / "flex_templates"


class ScenarioError(ConfigError):
    """The scenario file is unusable; the message names the file, scenario and field."""


@dataclass(frozen=True)
class Variant:
    """One arm of an A/B test: a template variant (or another template) and its weight."""

    name: str
    weight: int
    template: str | None = None
    template_variant: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    """A branch of a step: sent as this variant (or template) when `when` holds (None: the
    default)."""

    when: Condition | None
    variant: str | None = None
    template: str | None = None


@dataclass(frozen=True)
class Step:
    """One timed message of a scenario."""

    id: str
    index: int
    delay: timedelta
    template: str
    marketing: bool
    expires_after: timedelta
    variants: tuple[Variant, ...] = ()
    low_stock_at_most: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    when: Condition | None = None  # sent only if this holds at send time
    choices: tuple[Choice, ...] = ()  # branches, tried in order at send time
    coupon_fallback: str | None = None  # the variant sent instead of a coupon one
    before_deadline: timedelta | None = None  # timed from the flow's deadline instead
    channels: tuple[str, ...] = ("line",)  # in order of preference, chosen at send time
    multicast: bool = False  # impersonal, so that the same messages go out as one multicast

    def choose_variant(
        self, scenario_id: str, shopper_id: int, promoted: str | None = None
    ) -> Variant | None:
        """The shopper's arm: a stable hash of scenario, step and shopper, weighted.

        Variants a branch (`choose:`) names are picked by their conditions at send time, so
        the draw is among the others only (none left: no arm). A promoted winner (`promoted`,
        an admin's decision after the A/B test) takes every shopper: its weight is 100 and
        the others' 0.
        """
        named = {c.variant for c in self.choices}
        arms = [v for v in self.variants if v.name not in named]
        if not arms:
            return None
        if promoted is not None:
            winner = next((v for v in arms if v.name == promoted), None)
            if winner is not None:
                return winner
        total = sum(v.weight for v in arms)
        digest = hashlib.sha256(f"{scenario_id}:{self.id}:{shopper_id}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") % total
        for variant in arms:
            if point < variant.weight:
                return variant
            point -= variant.weight
        return arms[-1]  # unreachable: the weights sum to total

    def variant(self, name: str | None) -> Variant | None:
        """The variant of that name, if the step has one."""
        return next((v for v in self.variants if v.name == name), None)

    def carries_coupon(self, variant: str | None) -> bool:
        """True if the message of this arm holds a coupon (`coupon` in its data)."""
        arm = self.variant(variant)
        data = {**self.data, **(arm.data if arm is not None else {})}
        return data.get("coupon") is not None

    def may_carry_coupon(self) -> bool:
        """True if any arm of the step holds a coupon."""
        return self.carries_coupon(None) or any(self.carries_coupon(v.name) for v in self.variants)

    def without_coupon(self) -> Variant | None:
        """The variant sent instead of a coupon one: `coupon_fallback`, or the first variant
        without a coupon; None if there is none."""
        if self.coupon_fallback is not None:
            return self.variant(self.coupon_fallback)
        return next((v for v in self.variants if not self.carries_coupon(v.name)), None)


@dataclass(frozen=True)
class Scenario:
    """A trigger, ordered steps and the rules that end the flow."""

    id: str
    title: str
    trigger: str
    steps: tuple[Step, ...]
    exit_on: frozenset[str]
    attribution_window: timedelta
    max_messages: int
    cooldown: timedelta | None = None
    audience_within: timedelta | None = None  # product.restocked: carts this recent
    dormant_days: int | None = None  # customer.dormant: days since the last order
    enabled: bool = True
    holdout: float = 0.0  # percent of shoppers kept out of the scenario (control group)

    @property
    def reaches_off_line(self) -> bool:
        """Whether a step may go by e-mail or SMS."""
        return any(step.channels != ("line",) for step in self.steps)

    def in_holdout(self, shopper_id: int) -> bool:
        """Whether the shopper is in the scenario's control group: stable, by a hash of the
        scenario and the shopper, so every flow of the shopper lands on the same side."""
        return in_holdout(self.id, shopper_id, self.holdout)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"scenario {self.id!r} has no step {step_id!r}")


@dataclass(frozen=True)
class ScenarioBook:
    """All scenarios of the shop, looked up by id or trigger."""

    scenarios: tuple[Scenario, ...]
    source: str = ""

    def get(self, scenario_id: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.id == scenario_id), None)

    def triggered_by(self, event_type: str) -> list[Scenario]:
        """Enabled scenarios that start on this event type."""
        return [s for s in self.scenarios if s.enabled and s.trigger == event_type]

    def ended_by(self, event_type: str) -> list[Scenario]:
        """Scenarios whose running flows end on this event type."""
        return [s for s in self.scenarios if event_type in s.exit_on]

    def off_line(self) -> ScenarioBook:
        """The scenarios that may reach a shopper by e-mail or SMS."""
        return ScenarioBook(tuple(s for s in self.scenarios if s.reaches_off_line), self.source)

    def off_line_ids(self) -> list[str]:
        """The ids of `off_line()`'s scenarios."""
        return [s.id for s in self.scenarios if s.reaches_off_line]


HOLDOUT_BUCKETS = 10_000  # 0.01 % steps


def in_holdout(scenario_id: str, shopper_id: int, percent: float) -> bool:
    """Whether a shopper falls in a scenario's holdout of `percent` % (stable assignment)."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"holdout:{scenario_id}:{shopper_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % HOLDOUT_BUCKETS < round(percent * 100)


def _known_templates(templates_dir: Path | None) -> set[str]:
    # The layout files name the templates; reading the folder keeps the web process from
    # importing the SDK-backed template registry just to validate names.
    names = {p.stem for p in TEMPLATES_DIR.glob("*.json")}
    if templates_dir is not None:
        names |= {p.stem.partition("@")[0] for p in templates_dir.glob("*.json")}
    return names


# -- from the checked file to the engine's objects -------------------------------------------


def _variant(spec: VariantSpec) -> Variant:
    return Variant(spec.name, spec.weight, spec.template, spec.template_variant, spec.data or {})


def _step(spec: StepSpec, step_id: str, index: int, scenario: ScenarioSpec) -> Step:
    return Step(
        id=step_id,
        index=index,
        delay=spec.delay,
        template=spec.template,
        marketing=(spec.category or scenario.category) == "marketing",
        expires_after=spec.expires_after,
        variants=tuple(_variant(v) for v in spec.variants or ()),
        low_stock_at_most=spec.condition.low_stock_at_most if spec.condition else None,
        data=spec.data or {},
        when=spec.when,
        choices=tuple(Choice(c.when, c.variant, c.template) for c in spec.choose or ()),
        coupon_fallback=spec.coupon_fallback,
        before_deadline=spec.before_deadline,
        channels=tuple(spec.channels),
        multicast=spec.multicast,
    )


def _scenario(scenario_id: str, spec: ScenarioSpec) -> Scenario:
    steps = tuple(
        _step(step, step_id, index, spec)
        for index, (step, step_id) in enumerate(zip(spec.steps, spec.step_ids(), strict=True))
    )
    return Scenario(
        id=scenario_id,
        title=spec.title or scenario_id,
        trigger=spec.trigger,
        steps=steps,
        exit_on=frozenset(spec.exit_on or ()) | {"unfollow"},
        attribution_window=spec.attribution_window,
        max_messages=len(steps) if spec.max_messages is None else spec.max_messages,
        cooldown=spec.cooldown,
        audience_within=spec.audience_within,
        dormant_days=spec.dormant_days,
        enabled=spec.enabled,
        holdout=spec.holdout,
    )


# -- refusals in words -----------------------------------------------------------------------

TOP_LEVEL = "top level must have a 'scenarios:' mapping"
# What a missing field looks like when present.
_EXAMPLES = {
    "delay": " (e.g. 15m)",
    "template": " (e.g. cart_reminder)",
    "trigger": f" (one of {', '.join(TRIGGERS)})",
}
_CHOICES = {"trigger": TRIGGERS, "category": CATEGORIES, "exit_on": EXITS}
_REASONS = {
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "too_short": "must not be empty",
}


def _refusal(exc: ValidationError, source: str, doc: Any) -> ScenarioError:
    """The first thing wrong with the file, naming the file, the scenario, the field and,
    inside a step that has an id, the step."""
    error = exc.errors(include_url=False)[0]
    loc = list(error["loc"])
    if len(loc) < 2 or loc[0] != "scenarios":
        return ScenarioError(f"{source}: {TOP_LEVEL}")
    scenario_id, where = str(loc[1]), loc[2:]
    if where[:1] == ["[key]"]:
        return ScenarioError(f"{source}: scenario {scenario_id!r}, id: must be lower_snake_case")
    where += (error.get("ctx") or {}).get(LOC_KEY, [])
    field = field_path(where)
    scope = f"scenario {scenario_id!r}, {field}" if field else f"scenario {scenario_id!r}"
    step = _step_id(doc, scenario_id, where)
    named = f" (step {step!r})" if step else ""
    return ScenarioError(f"{source}: {scope}: {_reason(error, where)}{named}")


def _step_id(doc: Any, scenario_id: str, where: list[str | int]) -> str | None:
    """The id written on the step a refusal is about, if it is about one (and it has one)."""
    if len(where) < 3 or where[0] != "steps" or not isinstance(where[1], int) or where[2] == "id":
        return None
    try:
        step_id = doc["scenarios"][scenario_id]["steps"][where[1]].get("id")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return step_id if isinstance(step_id, str) else None


def _reason(error: ErrorDetails, where: list[str | int]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    name = next((part for part in reversed(where) if isinstance(part, str)), "")
    if kind == "missing":
        return f"is required{_EXAMPLES.get(name, '')}"
    if kind == "literal_error":
        choices = _CHOICES.get(name)
        if choices is not None:
            return f"must be one of {', '.join(choices)}, got {error['input']!r}"
    if kind == "string_pattern_mismatch":
        return f"must be {PATTERN_WORDS[str(ctx['pattern'])]}"
    if kind == "too_short" and name == "steps":
        return "must be a non-empty list"
    return _REASONS.get(kind, error["msg"])


def parse_scenarios(
    text: str, source: str = "<scenarios>", templates_dir: Path | None = None
) -> ScenarioBook:
    """Parse and validate scenario YAML; ScenarioError names the file, scenario and field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML ({exc})") from None
    context = {KNOWN_TEMPLATES: _known_templates(templates_dir)}
    try:
        checked = ScenarioFile.model_validate(doc, context=context)
    except ValidationError as exc:
        raise _refusal(exc, source, doc) from None
    book = ScenarioBook(
        tuple(_scenario(sid, spec) for sid, spec in checked.scenarios.items()), source
    )
    _check_channel_templates(book, source)
    return book


def _check_channel_templates(book: ScenarioBook, source: str) -> None:
    """Every template an e-mail or SMS step may send has that channel's version; an SMS
    that renders (with the template's sample data) past 2 segments is logged as a warning."""
    from bot.delivery import channel_render  # Jinja, only once a step uses the channels

    warned: set[str] = set()
    for scenario in book.scenarios:
        for step in scenario.steps:
            names = {step.template} | {v.template for v in step.variants if v.template}
            names |= {c.template for c in step.choices if c.template}
            for channel, exists in (
                ("email", channel_render.has_email),
                ("sms", channel_render.has_sms),
            ):
                if channel not in step.channels:
                    continue
                for name in sorted(names):
                    if not exists(name):
                        raise ScenarioError(
                            f"{source}: scenario {scenario.id!r}, step {step.id!r}: channels: "
                            f"{channel} needs templates/{channel}/{name} (bot/delivery/templates)"
                        )
                    if channel == "sms" and name not in warned:
                        warned.add(name)
                        for warning in channel_render.sms_warnings(name, ZoneInfo("Asia/Tokyo")):
                            log.warning("SMS template long", extra={"warning": warning})


def load_scenarios(path: Path | None = None, templates_dir: Path | None = None) -> ScenarioBook:
    """Load the shop's scenario file (SCENARIOS_PATH) or the shipped default."""
    path = path or DEFAULT_SCENARIOS_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_scenarios(text, str(path), templates_dir)
