"""Step-delivery scenarios as data: load and validate the YAML a shop can edit."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.core.settings import REPO_ROOT, ConfigError

DEFAULT_SCENARIOS_PATH = REPO_ROOT / "data" / "scenarios.yaml"
TEMPLATES_DIR = REPO_ROOT / "flex_templates"

TRIGGERS = ("cart.updated", "order.placed", "order.shipped", "order.delivered", "product.restocked")
# Events that can end a running flow; unfollow always ends every flow and opt-out every
# marketing step, so listing them is allowed but changes nothing.
EXITS = ("order.placed", "cart.cleared", "unfollow", "opt_out")
CATEGORIES = ("marketing", "transactional")
# Data keys that put an offer in a message (points, a coupon, free shipping): such a message
# is marketing whatever it is about, so it needs consent, keeps to quiet hours and the daily
# cap, and carries 「配信停止」.
OFFER_KEYS = ("incentive", "coupon", "free_shipping_threshold")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


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

    def choose_variant(self, scenario_id: str, shopper_id: int) -> Variant | None:
        """The shopper's arm: a stable hash of scenario, step and shopper, weighted."""
        if not self.variants:
            return None
        total = sum(v.weight for v in self.variants)
        digest = hashlib.sha256(f"{scenario_id}:{self.id}:{shopper_id}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") % total
        for variant in self.variants:
            if point < variant.weight:
                return variant
            point -= variant.weight
        return self.variants[-1]  # unreachable: the weights sum to total


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
    enabled: bool = True

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


def parse_duration(text: object) -> timedelta:
    """`30s`, `15m`, `12h`, `3d` → timedelta; ValueError otherwise."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError("must be a duration such as 30s, 15m, 12h or 3d")
    if isinstance(text, int):
        text = f"{text}s"
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 12h or 3d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class _Where:
    """Builds error messages that name the file, the scenario and the field."""

    def __init__(self, source: str, scenario: str | None = None) -> None:
        self.source = source
        self.scenario = scenario

    def error(self, where: str, problem: str) -> ScenarioError:
        scope = f"scenario {self.scenario!r}, " if self.scenario else ""
        return ScenarioError(f"{self.source}: {scope}{where}: {problem}")


def _known_templates(templates_dir: Path | None) -> set[str]:
    # The layout files name the templates; reading the folder keeps the web process from
    # importing the SDK-backed template registry just to validate names.
    names = {p.stem for p in TEMPLATES_DIR.glob("*.json")}
    if templates_dir is not None:
        names |= {p.stem.partition("@")[0] for p in templates_dir.glob("*.json")}
    return names


def _only_keys(raw: Mapping[str, Any], allowed: set[str], where: _Where, field_: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise where.error(
            field_, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _duration(raw: Mapping[str, Any], key: str, where: _Where, field_: str) -> timedelta:
    try:
        return parse_duration(raw[key])
    except ValueError as exc:
        raise where.error(f"{field_}.{key}" if field_ else key, str(exc)) from None


def _mapping(value: Any, where: _Where, field_: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise where.error(field_, "must be a mapping")
    return value


def _variant(raw: Any, where: _Where, field_: str, known: set[str]) -> Variant:
    if not isinstance(raw, Mapping):
        raise where.error(field_, "must be a mapping with name and weight")
    _only_keys(raw, {"name", "weight", "template", "template_variant", "data"}, where, field_)
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name):
        raise where.error(f"{field_}.name", "must be a short name such as A or coupon_500")
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
        raise where.error(f"{field_}.weight", "must be a whole number of at least 1")
    template = raw.get("template")
    if template is not None and template not in known:
        raise where.error(f"{field_}.template", f"unknown template {template!r}")
    tvariant = raw.get("template_variant")
    if tvariant is not None and not isinstance(tvariant, str):
        raise where.error(f"{field_}.template_variant", "must be a string")
    return Variant(name, weight, template, tvariant, dict(_mapping(raw.get("data"), where, field_)))


def _step(raw: Any, index: int, marketing: bool, where: _Where, known: set[str]) -> Step:
    field_ = f"steps[{index}]"
    if not isinstance(raw, Mapping):
        raise where.error(field_, "must be a mapping with id, delay and template")
    allowed = {"id", "delay", "template", "category", "variants", "condition", "expires_after"}
    _only_keys(raw, allowed | {"data"}, where, field_)
    step_id = raw.get("id", f"step{index + 1}")
    if not isinstance(step_id, str) or not _ID.match(step_id):
        raise where.error(f"{field_}.id", "must be lower_snake_case")
    if "delay" not in raw:
        raise where.error(f"{field_}.delay", "is required (e.g. 15m)")
    delay = _duration(raw, "delay", where, field_)
    template = raw.get("template")
    if template not in known:
        raise where.error(f"{field_}.template", f"unknown template {template!r}")
    category = raw.get("category")
    if category is not None and category not in CATEGORIES:
        raise where.error(f"{field_}.category", f"must be one of {', '.join(CATEGORIES)}")
    step_marketing = marketing if category is None else category == "marketing"
    variants_raw = raw.get("variants") or []
    if not isinstance(variants_raw, list):
        raise where.error(f"{field_}.variants", "must be a list")
    variants = tuple(
        _variant(v, where, f"{field_}.variants[{i}]", known) for i, v in enumerate(variants_raw)
    )
    if len({v.name for v in variants}) != len(variants):
        raise where.error(f"{field_}.variants", "variant names must be unique")
    condition = _mapping(raw.get("condition"), where, f"{field_}.condition")
    _only_keys(condition, {"low_stock_at_most"}, where, f"{field_}.condition")
    low = condition.get("low_stock_at_most")
    if low is not None and (isinstance(low, bool) or not isinstance(low, int) or low < 0):
        raise where.error(f"{field_}.condition.low_stock_at_most", "must be a whole number ≥ 0")
    expires = (
        _duration(raw, "expires_after", where, field_)
        if "expires_after" in raw
        else timedelta(days=1)
    )
    data = dict(_mapping(raw.get("data"), where, f"{field_}.data"))
    offer = _offer(data, variants)
    if offer is not None and not step_marketing:
        raise where.error(
            f"{field_}.{offer}",
            "is an offer, so the step is marketing: set category: marketing on the step "
            "(marketing needs consent, keeps to quiet hours and carries 「配信停止」)",
        )
    return Step(step_id, index, delay, template, step_marketing, expires, variants, low, data)


def _offer(data: Mapping[str, Any], variants: tuple[Variant, ...]) -> str | None:
    """Where the step's data (or a variant's) carries an offer, like `data.incentive`."""
    for key in OFFER_KEYS:
        if data.get(key) is not None:
            return f"data.{key}"
    for index, variant in enumerate(variants):
        for key in OFFER_KEYS:
            if variant.data.get(key) is not None:
                return f"variants[{index}].data.{key}"
    return None


def _scenario(scenario_id: Any, raw: Any, source: str, known: set[str]) -> Scenario:
    where = _Where(source, str(scenario_id))
    if not isinstance(scenario_id, str) or not _ID.match(scenario_id):
        raise where.error("id", "must be lower_snake_case")
    if not isinstance(raw, Mapping):
        raise where.error("(body)", "must be a mapping")
    allowed = {
        "title", "trigger", "category", "steps", "exit_on", "attribution_window",
        "max_messages", "cooldown", "audience_within", "enabled",
    }  # fmt: skip
    _only_keys(raw, allowed, where, "(body)")
    trigger = raw.get("trigger")
    if trigger not in TRIGGERS:
        raise where.error("trigger", f"must be one of {', '.join(TRIGGERS)}, got {trigger!r}")
    category = raw.get("category", "marketing")
    if category not in CATEGORIES:
        raise where.error("category", f"must be one of {', '.join(CATEGORIES)}")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise where.error("steps", "must be a non-empty list")
    steps = tuple(
        _step(s, i, category == "marketing", where, known) for i, s in enumerate(steps_raw)
    )
    if len({s.id for s in steps}) != len(steps):
        raise where.error("steps", "step ids must be unique")
    if any(b.delay < a.delay for a, b in zip(steps, steps[1:], strict=False)):
        raise where.error("steps", "delays must not decrease from one step to the next")
    exit_on = raw.get("exit_on") or []
    if not isinstance(exit_on, list) or any(e not in EXITS for e in exit_on):
        raise where.error("exit_on", f"must be a list of {', '.join(EXITS)}")
    max_messages = raw.get("max_messages", len(steps))
    if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
        raise where.error("max_messages", "must be a whole number of at least 1")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise where.error("enabled", "must be true or false")
    return Scenario(
        id=scenario_id,
        title=str(raw.get("title") or scenario_id),
        trigger=trigger,
        steps=steps,
        exit_on=frozenset(exit_on) | {"unfollow"},
        attribution_window=(
            _duration(raw, "attribution_window", where, "")
            if "attribution_window" in raw
            else timedelta(days=7)
        ),
        max_messages=max_messages,
        cooldown=_duration(raw, "cooldown", where, "") if "cooldown" in raw else None,
        audience_within=(
            _duration(raw, "audience_within", where, "") if "audience_within" in raw else None
        ),
        enabled=enabled,
    )


def parse_scenarios(
    text: str, source: str = "<scenarios>", templates_dir: Path | None = None
) -> ScenarioBook:
    """Parse and validate scenario YAML; ScenarioError names the file, scenario and field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("scenarios"), Mapping):
        raise ScenarioError(f"{source}: top level must have a 'scenarios:' mapping")
    known = _known_templates(templates_dir)
    scenarios = tuple(_scenario(sid, body, source, known) for sid, body in doc["scenarios"].items())
    return ScenarioBook(scenarios, source)


def load_scenarios(path: Path | None = None, templates_dir: Path | None = None) -> ScenarioBook:
    """Load the shop's scenario file (SCENARIOS_PATH) or the shipped default."""
    path = path or DEFAULT_SCENARIOS_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_scenarios(text, str(path), templates_dir)
