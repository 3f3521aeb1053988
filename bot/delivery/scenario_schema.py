"""The scenario file's shape and rules, defined once as pydantic models.

`ScenarioFile` checks a parsed `data/scenarios.yaml` (or the shop's own file) and is the
source of the JSON Schema shipped beside it (`data/scenarios.schema.json`), which editors use
to check a shop's edits as it types. Rules JSON Schema cannot say (a known template, an offer
only in a marketing step, delays that never decrease) are validators here and are named in
the descriptions. Turning a checked file into the engine's objects is `bot.delivery.scenarios`.

Regenerate the shipped schema after changing a model:

    python -m bot.delivery.scenario_schema
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.core.json_schema import UntitledJsonSchema
from bot.core.settings import REPO_ROOT
from bot.delivery.conditions import (
    ATTRIBUTES,
    MAX_DEPTH,
    MAX_ITEMS,
    Condition,
    ConditionError,
    parse_condition,
)

SCHEMA_PATH = REPO_ROOT / "data" / "scenarios.schema.json"

Trigger = Literal[
    "cart.updated",
    "order.placed",
    "order.shipped",
    "order.delivered",
    "order.payment_pending",
    "product.restocked",
    "customer.dormant",
    "customer.birthday_month",
]
# Events that can end a running flow; unfollow always ends every flow and opt-out every
# marketing step, so listing them is allowed but changes nothing.
Exit = Literal[
    "order.placed", "order.paid", "order.cancelled", "cart.cleared", "unfollow", "opt_out"
]
Category = Literal["marketing", "transactional"]
Channel = Literal["line", "email", "sms"]
CHANNELS: tuple[str, ...] = get_args(Channel)
TRIGGERS: tuple[str, ...] = get_args(Trigger)
EXITS: tuple[str, ...] = get_args(Exit)
CATEGORIES: tuple[str, ...] = get_args(Category)
# Data keys that put an offer in a message (points, a coupon, free shipping): such a message
# is marketing whatever it is about, so it needs consent, keeps to quiet hours and the daily
# cap, and carries 「配信停止」.
OFFER_KEYS = ("incentive", "coupon", "free_shipping_threshold")

# Validation context: the template names that exist (None: not checked, as for the schema).
KNOWN_TEMPLATES = "known_templates"
# A custom error's context key for where, below the model that raised it, the error is:
# ["steps", 0, "data", "coupon"].
LOC_KEY = "loc"

# -- the field types -------------------------------------------------------------------------

DURATION_PATTERN = r"^\s*(\d+)\s*(s|m|h|d)\s*$"
_DURATION = re.compile(DURATION_PATTERN)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
DURATION_WORDS = "a duration such as 30s, 15m, 12h or 3d"


def parse_duration(text: object) -> timedelta:
    """`30s`, `15m`, `12h`, `3d` (or a whole number of seconds) → timedelta; ValueError
    otherwise."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"must be {DURATION_WORDS}")
    if isinstance(text, int):
        text = f"{text}s"
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not {DURATION_WORDS}")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _duration(value: object) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


Duration = Annotated[
    timedelta,
    PlainValidator(_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "integer", "minimum": 0},
            ],
            "description": "30s, 15m, 12h or 3d (a bare number is seconds).",
            "examples": ["30s", "15m", "12h", "3d"],
        }
    ),
]


def _whole(minimum: int) -> Any:
    def check(value: object) -> object:
        # YAML reads `1.0` as a float and `yes` as true: neither is a count.
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            words = "of at least 1" if minimum == 1 else f"≥ {minimum}"
            raise PydanticCustomError("whole", f"must be a whole number {words}")
        return value

    # The bound first, so that the schema says `minimum`; the check runs before it.
    return Annotated[int, Field(ge=minimum), BeforeValidator(check)]


Count = _whole(1)  # a weight, a number of messages
Stock = _whole(0)

HOLDOUT_PATTERN = r"^\s*(\d{1,2}(\.\d{1,2})?)\s*%\s*$"
_HOLDOUT = re.compile(HOLDOUT_PATTERN)
HOLDOUT_MAX = 50  # beyond half the shoppers the scenario is mostly off, not measured


def parse_holdout(value: object) -> float:
    """`10%` (or `0.5%`) → 10.0 (percent of shoppers); ValueError otherwise."""
    match = _HOLDOUT.match(value) if isinstance(value, str) else None
    if match is None or float(match[1]) > HOLDOUT_MAX:
        raise ValueError(f"must be a percentage from 0% to {HOLDOUT_MAX}%, such as 10%")
    return float(match[1])


def _holdout(value: object) -> float:
    try:
        return parse_holdout(value)
    except ValueError as exc:
        raise PydanticCustomError("holdout", str(exc)) from None


Holdout = Annotated[
    float,
    PlainValidator(_holdout),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": HOLDOUT_PATTERN,
            "description": "Share of shoppers kept out of the scenario to measure what it adds.",
            "examples": ["10%", "5%"],
        }
    ),
]


ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
VARIANT_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
Id = Annotated[str, Strict(), StringConstraints(pattern=ID_PATTERN)]
VariantName = Annotated[str, Strict(), StringConstraints(pattern=VARIANT_NAME_PATTERN)]
TemplateName = Annotated[
    str,
    Strict(),
    Field(description="A Flex template: a layout in flex_templates/ or in TEMPLATES_PATH."),
]
# What each pattern means, for an error message.
PATTERN_WORDS = {
    ID_PATTERN: "lower_snake_case",
    VARIANT_NAME_PATTERN: "a short name such as A or coupon_500",
}
# Extra template data; an offer key (OFFER_KEYS) makes the step marketing.
Data = dict[str, Any] | None


def _no_default(schema: dict[str, Any]) -> None:
    # The description tells the default: some are worked out on loading (from other fields or
    # settings), and pydantic would write a timedelta as an ISO 8601 duration (P1D), which
    # the file does not accept.
    schema.pop("default", None)


# -- the file --------------------------------------------------------------------------------


class _Part(BaseModel):
    """A mapping of the file: unknown keys are refused, naming the allowed ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            unknown = sorted(str(key) for key in raw if key not in cls.model_fields)
            if unknown:
                allowed = ", ".join(sorted(cls.model_fields))
                raise PydanticCustomError(
                    "unknown_key",
                    "unknown key (allowed: {allowed})",
                    {"allowed": allowed, LOC_KEY: [unknown[0]]},
                )
        return raw


def _known_template(name: str | None, info: ValidationInfo) -> str | None:
    known: Collection[str] | None = (info.context or {}).get(KNOWN_TEMPLATES)
    if name is not None and known is not None and name not in known:
        raise PydanticCustomError("template", "unknown template {name}", {"name": repr(name)})
    return name


class VariantSpec(_Part):
    """One arm of an A/B test: a template variant (or another template) and its weight."""

    name: VariantName
    weight: Count = Field(default=1, description="Share of shoppers, relative to the others.")
    template: TemplateName | None = Field(default=None, description="Another template.")
    template_variant: Annotated[str, Strict()] | None = Field(
        default=None, description="The template's variant layout: <template>@<variant>.json."
    )
    data: Data = None

    _template = field_validator("template")(_known_template)


class ConditionSpec(_Part):
    """When a step is sent at all; otherwise it is skipped."""

    low_stock_at_most: Stock | None = Field(
        default=None, description="Only when an item has between 1 and this many left."
    )


def _condition(value: object) -> Condition:
    try:
        return parse_condition(value)
    except ConditionError as exc:
        raise PydanticCustomError(
            "condition", "{message}", {"message": exc.message, LOC_KEY: exc.path}
        ) from None


# Where the schema refers to the Condition definition (pydantic cannot build a $ref to a
# definition it does not know; json_schema puts the reference in).
_CONDITION_MARK = "x-condition"
# Checked and parsed on loading (no code is ever run: see bot.delivery.conditions); the
# schema's Condition definition (added in json_schema) says the same shape to editors.
When = Annotated[Any, PlainValidator(_condition), WithJsonSchema({_CONDITION_MARK: True})]


class ChoiceSpec(_Part):
    """One entry of a step's `choose:`: the variant (or template) sent when `when` holds.

    Entries are tried in order at send time and the first that holds wins; an entry without
    `when` is the default and comes last.
    """

    when: When | None = Field(
        default=None, description="Omitted: the default entry (the last one)."
    )
    variant: VariantName | None = Field(default=None, description="One of the step's variants.")
    template: TemplateName | None = Field(default=None, description="Another template.")

    _template = field_validator("template")(_known_template)

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.when is None and "when" in self.model_fields_set:
            # An empty `when:` would silently make the entry the default.
            raise _error_at(["when"], "is empty: leave when out for the default entry")
        if (self.variant is None) == (self.template is None):
            raise _error_at([], "needs either variant or template (one of them)")
        return self


class StepSpec(_Part):
    """One timed message of a scenario."""

    id: Id = Field(
        default=None,  # absent: step1, step2, … by position
        description="lower_snake_case, unique in the scenario (default: step1, step2, …).",
        json_schema_extra=_no_default,
    )
    delay: Duration = Field(description="From the trigger (carts: the last change).")
    before_deadline: Duration = Field(
        default=None,
        description="order.payment_pending: due this long before the payment deadline "
        "instead (never after it); skipped if that is sooner than `delay` after the event.",
        json_schema_extra=_no_default,
    )
    template: TemplateName
    category: Category | None = Field(
        default=None,
        description="Overrides the scenario's category. A step whose data (or a variant's) "
        "holds an offer (incentive, coupon, free_shipping_threshold) must be marketing.",
    )
    variants: list[VariantSpec] | None = Field(
        default=None, description="A/B test: stable per shopper; names unique."
    )
    condition: ConditionSpec | None = None
    expires_after: Duration = Field(
        default=timedelta(days=1),
        description="Skipped if it cannot be sent within this time of its due time (1d).",
        json_schema_extra=_no_default,
    )
    data: Data = Field(default=None, description="Extra template data.")
    when: When | None = Field(
        default=None,
        description="Sent only if this holds at send time; otherwise skipped with the reason.",
    )
    choose: list[ChoiceSpec] | None = Field(
        default=None,
        description="Branches: the first entry whose `when` holds at send time names the "
        "variant or template; an entry without `when` is the default (last).",
    )
    channels: list[Channel] = Field(
        default=["line"],
        min_length=1,
        description="The channels this step may use, in order of preference: at send time "
        "the first the shopper can receive (LINE: linked and following; e-mail/SMS: a "
        "deliverable address and, for marketing, consent for that channel).",
        json_schema_extra=_no_default,
    )
    multicast: bool = Field(
        default=False,
        description="LINE only: rendered without the shopper's name and with links that name "
        "no shopper, so the step's messages due together are the same and go out as one "
        "multicast per send batch (restock notices). Clicks are then counted per step, "
        "not per shopper.",
        json_schema_extra=_no_default,
    )
    coupon_fallback: VariantName | None = Field(
        default=None,
        description="The variant sent instead of one carrying a coupon (data.coupon) while "
        "the shopper is inside the coupon window (default: the first variant without one; "
        "without any, the step is skipped).",
    )

    _template = field_validator("template")(_known_template)

    @model_validator(mode="after")
    def _unique_variants(self) -> Self:
        if len(set(self.channels)) != len(self.channels):
            raise _error_at(["channels"], "each channel at most once")
        if self.multicast and self.channels != ["line"]:
            raise _error_at(["multicast"], "multicast is for LINE-only steps (channels: [line])")
        names = [v.name for v in self.variants or ()]
        if len(set(names)) != len(names):
            raise _error_at(["variants"], "variant names must be unique")
        for index, choice in enumerate(self.choose or ()):
            if choice.variant is not None and choice.variant not in names:
                raise _error_at(
                    ["choose", index, "variant"],
                    f"names no variant of this step (variants: {', '.join(names) or 'none'})",
                )
            if choice.when is None and index != len(self.choose or ()) - 1:
                raise _error_at(
                    ["choose", index], "an entry without when (the default) must come last"
                )
        if self.coupon_fallback is not None:
            variant = next((v for v in self.variants or () if v.name == self.coupon_fallback), None)
            if variant is None:
                raise _error_at(
                    ["coupon_fallback"],
                    f"names no variant of this step (variants: {', '.join(names) or 'none'})",
                )
            if {**(self.data or {}), **(variant.data or {})}.get("coupon") is not None:
                raise _error_at(["coupon_fallback"], "this variant carries a coupon itself")
        return self

    def offer(self) -> list[str | int] | None:
        """Where the step's data (or a variant's) carries an offer, like ["data", "coupon"]."""
        for key in OFFER_KEYS:
            if (self.data or {}).get(key) is not None:
                return ["data", key]
        for index, variant in enumerate(self.variants or ()):
            for key in OFFER_KEYS:
                if (variant.data or {}).get(key) is not None:
                    return ["variants", index, "data", key]
        return None


class ScenarioSpec(_Part):
    """A trigger, ordered steps and the rules that end the flow; its id is its key."""

    title: str | None = Field(
        default=None,
        description="Shown in the console (default: the id).",
        coerce_numbers_to_str=True,  # `title: 2024` has always been read as text
    )
    trigger: Trigger
    category: Category = Field(default="marketing", description="The steps' default category.")
    steps: list[StepSpec] = Field(
        min_length=1, description="Delays never decrease from one step to the next."
    )
    exit_on: list[Exit] | None = Field(
        default=None,
        description="Events that end a running flow; unfollow always does, and opt-out "
        "always stops marketing steps.",
    )
    attribution_window: Duration = Field(
        default=timedelta(days=7),
        description="An order within this time after a sent message counts for it (7d).",
        json_schema_extra=_no_default,
    )
    max_messages: Count = Field(
        default=None,  # absent: the number of steps
        description="At most this many messages per flow (default: the number of steps).",
        json_schema_extra=_no_default,
    )
    cooldown: Duration = Field(
        default=None,  # absent: ABANDONMENT_COOLDOWN_HOURS
        description="Cart flows: no new flow for the same items reminded within this time "
        "(default: ABANDONMENT_COOLDOWN_HOURS).",
        json_schema_extra=_no_default,
    )
    audience_within: Duration = Field(
        default=None,
        description="product.restocked: carts that held the SKU this recently.",
        json_schema_extra=_no_default,
    )
    dormant_days: Count = Field(
        default=None,
        description="customer.dormant (required there): a linked shopper whose last order is "
        "this many days old starts the flow, once per dormancy; an order ends it.",
        json_schema_extra=_no_default,
    )
    enabled: Annotated[bool, Strict()] = True
    holdout: Holdout = Field(
        default=0.0,
        description="A control group, e.g. 10%: these shoppers (stable by shopper) get no "
        "message of the scenario; their flows are recorded so the report can compare (0%).",
        json_schema_extra=_no_default,
    )

    def step_ids(self) -> list[str]:
        """Each step's id, the default (step1, step2, …) where none is given."""
        return [step.id or f"step{index + 1}" for index, step in enumerate(self.steps)]

    @model_validator(mode="after")
    def _steps_in_order(self) -> Self:
        ids = self.step_ids()
        if len(set(ids)) != len(ids):
            raise _error_at(["steps"], "step ids must be unique")
        delays = [step.delay for step in self.steps]
        if any(b < a for a, b in zip(delays, delays[1:], strict=False)):
            raise _error_at(["steps"], "delays must not decrease from one step to the next")
        if (self.dormant_days is not None) != (self.trigger == "customer.dormant"):
            raise _error_at(
                ["dormant_days"], "is required with trigger customer.dormant and allowed only there"
            )
        for index, step in enumerate(self.steps):
            if (step.before_deadline is not None) != (self.trigger == "order.payment_pending"):
                raise _error_at(
                    ["steps", index, "before_deadline"],
                    "is required with trigger order.payment_pending and allowed only there",
                )
            offer = step.offer()
            category = step.category or self.category
            if offer is not None and category != "marketing":
                raise _error_at(
                    ["steps", index, *offer],
                    "is an offer, so the step is marketing: set category: marketing on the "
                    "step (marketing needs consent, keeps to quiet hours and carries 「配信停止」)",
                )
        return self


class ScenarioFile(BaseModel):
    """A shop's step-delivery scenarios (SCENARIOS_PATH, default data/scenarios.yaml)."""

    # Other top-level keys are ignored: a shop may keep YAML anchors there for reuse.
    model_config = ConfigDict(extra="ignore", frozen=True)

    scenarios: dict[Id, ScenarioSpec] = Field(
        description="Scenario id (lower_snake_case) → scenario.",
        json_schema_extra={"additionalProperties": False},  # an id not in lower_snake_case
    )


def _error_at(loc: list[str | int], message: str) -> PydanticCustomError:
    return PydanticCustomError("scenario_rule", message, {LOC_KEY: loc})


# -- the JSON Schema -------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario file, as shipped in data/scenarios.schema.json."""
    # Draft 7, the newest the YAML language server (and most editors) fully support.
    schema = ScenarioFile.model_json_schema(
        ref_template="#/definitions/{model}", schema_generator=UntitledJsonSchema
    )
    out = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Step-delivery scenarios",
        **{"definitions" if key == "$defs" else key: value for key, value in schema.items()},
    }
    out["definitions"]["Condition"] = CONDITION_SCHEMA
    return _refer_to_condition(out)


def _refer_to_condition(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get(_CONDITION_MARK):
            return {"$ref": "#/definitions/Condition"}
        return {key: _refer_to_condition(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_refer_to_condition(value) for value in node]
    return node


def _condition_schema() -> dict[str, Any]:
    names = "|".join(ATTRIBUTES)
    ref = {"$ref": "#/definitions/Condition"}

    def group(key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {key: value},
            "required": [key],
            "additionalProperties": False,
        }

    listed = {"type": "array", "items": ref, "minItems": 1, "maxItems": MAX_ITEMS}
    return {
        "description": "A comparison ATTRIBUTE OPERATOR VALUE (cart_value >= 5000, "
        "order_count == 0, tags contains vip, rank in [gold, platinum]), or all/any of a "
        f"list of conditions, or not of one; nested at most {MAX_DEPTH} deep. Attributes: "
        f"{', '.join(ATTRIBUTES)}.",
        "anyOf": [
            {"type": "string", "pattern": rf"^\s*({names})(\s.*)?$"},
            group("all", listed),
            group("any", listed),
            group("not", ref),
        ],
    }


CONDITION_SCHEMA = _condition_schema()


def render_json_schema() -> str:
    """The shipped file's text: stable key order, Japanese left readable."""
    return json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str]) -> None:
    """Write the schema to data/scenarios.schema.json (or the path given)."""
    target = Path(argv[0]) if argv else SCHEMA_PATH
    target.write_text(render_json_schema(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
