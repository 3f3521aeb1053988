"""The condition syntax: what it reads, what it refuses (naming the file, scenario, step and
key), how it decides with unknown values, and the JSON Schema that tells editors the same."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import jsonschema_rs
import pytest
import yaml

from bot.delivery.conditions import (
    MAX_DEPTH,
    AllOf,
    AnyOf,
    Comparison,
    ConditionError,
    NotOf,
    evaluate,
    parse_condition,
)
from bot.delivery.scenario_schema import json_schema
from bot.delivery.scenarios import ScenarioError, parse_scenarios

FACTS: dict[str, Any] = {
    "cart_value": 3200,
    "order_count": 0,
    "tags": ["VIP", "newsletter"],
    "rank": "Gold",
    "first_purchase": True,
    "last_order_date": date(2026, 10, 1),
    "lifetime_value": None,
}


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("cart_value >= 5000", False),
        ("cart_value >= 3200", True),
        ("cart_value<3201", True),
        ("order_count == 0", True),
        ("order_count != 0", False),
        ("order_count in [0, 1]", True),
        ("order_count not in [0, 1]", False),
        ("tags contains vip", True),  # without case
        ("tags contains 'news letter'", False),
        ("tags not contains sale", True),
        ("rank in [gold, platinum]", True),
        ('rank == "gold"', True),
        ("rank not in [silver]", True),
        ("first_purchase", True),
        ("first_purchase == false", False),
        ("last_order_date >= 2026-09-30", True),
        # Unknown is never true, whatever the operator.
        ("lifetime_value >= 0", False),
        ("lifetime_value != 5", False),
        ("birthday_month == 5", False),
        ("days_since_last_order < 30", False),
    ],
)
def test_a_comparison_reads_and_decides(text: str, held: bool) -> None:
    assert evaluate(parse_condition(text), FACTS)[0] is held


def test_the_reason_names_the_deciding_comparison_and_the_value_it_saw() -> None:
    assert evaluate(parse_condition("cart_value >= 5000"), FACTS) == (
        False,
        "cart_value >= 5000 was false (3200)",
    )
    condition = parse_condition(
        {"all": ["order_count == 0", {"any": ["rank == platinum", "lifetime_value > 9"]}]}
    )
    assert isinstance(condition, AllOf) and isinstance(condition.parts[1], AnyOf)
    assert evaluate(condition, FACTS) == (False, "lifetime_value > 9 was false (unknown)")
    assert evaluate(parse_condition({"not": "tags contains vip"}), FACTS) == (
        False,
        "not: tags contains vip was true ([VIP, newsletter])",
    )
    assert isinstance(parse_condition({"not": "first_purchase"}), NotOf)


def test_a_list_keeps_its_typed_values() -> None:
    parsed = parse_condition("birthday_month in [1, 2, 12]")
    assert parsed == Comparison("birthday_month", "in", (1, 2, 12), "birthday_month in [1, 2, 12]")


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ("cart_vale >= 5", [], "unknown attribute 'cart_vale' (known: tags, rank,"),
        ("tags >= 3", [], "'>=' does not apply to tags, which is a list of tags"),
        ("rank contains gold", [], "'contains' does not apply to rank, which is a text"),
        ("order_count == many", [], "order_count needs a whole number, got 'many'"),
        ("order_count == 1.5", [], "order_count needs a whole number, got '1.5'"),
        ("last_order_date < 2026-13-01", [], "needs a date YYYY-MM-DD, got '2026-13-01'"),
        ("first_purchase == yes", [], "first_purchase needs true or false, got 'yes'"),
        ("cart_value", [], "needs an operator and a value"),
        ("cart_value >=", [], "has no value after '>='"),
        ("cart_value => 5", [], "'=' is not an operator"),
        ("cart_value >= 5 6", [], "must end with one value"),
        ("rank in gold", [], "the values after 'in' go in [ ]"),
        ("rank in [gold,, x]", [], "cannot read the list of values"),
        ("rank in []", [], "the list must hold values"),
        ("__import__('os')", [], "unknown attribute"),
        ("", [], "is empty"),
        (None, [], "is empty"),
        (5000, [], "must be a comparison"),
        ({"all": [], "any": []}, [], "exactly one of all, any, not"),
        ({"every": ["order_count == 0"]}, ["every"], "unknown key (allowed: all, any, not)"),
        ({"all": []}, ["all"], "must be a non-empty list of conditions"),
        ({"any": [{"all": ["rank == x", "oops >= 1"]}]}, ["any", 0, "all", 1], "unknown"),
    ],
)
def test_a_bad_condition_is_refused_with_where_and_why(raw: Any, path: list, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(raw)
    assert message in info.value.message
    assert info.value.path == path


def test_nesting_is_limited() -> None:
    condition: Any = "order_count == 0"
    for _ in range(MAX_DEPTH):
        condition = {"not": condition}
    parse_condition(condition)
    with pytest.raises(ConditionError, match=f"at most {MAX_DEPTH} deep"):
        parse_condition({"not": condition})


# -- in the file -----------------------------------------------------------------------------

STEP: dict[str, Any] = {
    "id": "incentive",
    "delay": "1d",
    "template": "cart_incentive",
    "variants": [
        {"name": "free_shipping", "data": {"free_shipping_threshold": 5000}},
        {"name": "coupon", "data": {"coupon": {"code": "X"}}},
    ],
    "when": "cart_value >= 1000",
    "choose": [
        {"when": "first_purchase", "variant": "free_shipping"},
        {"when": {"any": ["tags contains vip", "rank in [gold]"]}, "variant": "coupon"},
        {"template": "cart_reminder"},
    ],
    "coupon_fallback": "free_shipping",
}


def _file(**changes: Any) -> str:
    step = copy.deepcopy(STEP)
    for key, value in changes.items():
        if value is None:
            step.pop(key, None)
        else:
            step[key] = value
    scenario = {
        "trigger": "cart.updated",
        "steps": [{"delay": "15m", "template": "cart_reminder"}, step],
    }
    return yaml.safe_dump({"scenarios": {"cart": scenario}}, allow_unicode=True)


def _schema_takes(text: str) -> bool:
    return jsonschema_rs.Draft7Validator(json_schema()).is_valid(yaml.safe_load(text))


def test_a_good_step_loads_and_the_schema_takes_it() -> None:
    text = _file()
    step = parse_scenarios(text, "shop.yaml").get("cart").steps[1]  # type: ignore[union-attr]
    assert step.when == parse_condition("cart_value >= 1000")
    assert [c.variant or c.template for c in step.choices] == [
        "free_shipping",
        "coupon",
        "cart_reminder",
    ]
    assert step.coupon_fallback == "free_shipping"
    # Branch variants are chosen by their conditions, never drawn by weight.
    assert step.choose_variant("cart", 7) is None
    assert _schema_takes(text)


@pytest.mark.parametrize(
    ("changes", "where", "reason", "schema_refuses"),
    [
        ({"when": "cart_vale >= 5"}, "steps[1].when", "unknown attribute 'cart_vale'", True),
        ({"when": "tags >= 5"}, "steps[1].when", "'>=' does not apply to tags", False),
        (
            {"when": {"all": ["order_count > 0", {"anyy": ["x"]}]}},
            "steps[1].when.all[1].anyy",
            "unknown key (allowed: all, any, not)",
            True,
        ),
        (
            {"choose": [{"when": "first_purchase", "variant": "points"}]},
            "steps[1].choose[0].variant",
            "names no variant of this step (variants: free_shipping, coupon)",
            False,
        ),
        (
            {"choose": [{"variant": "coupon"}, {"when": "first_purchase", "variant": "coupon"}]},
            "steps[1].choose[0]",
            "an entry without when (the default) must come last",
            False,
        ),
        (
            {"choose": [{"when": None, "variant": "coupon"}]},
            "steps[1].choose[0].when",
            "is empty: leave when out for the default entry",
            False,
        ),
        (
            {"choose": [{"when": "first_purchase"}]},
            "steps[1].choose[0]",
            "needs either variant or template",
            False,
        ),
        (
            {"choose": [{"when": "first_purchase", "varient": "coupon"}]},
            "steps[1].choose[0].varient",
            "unknown key (allowed: template, variant, when)",
            True,
        ),
        (
            {"choose": [{"when": "first_purchase", "template": "nope"}]},
            "steps[1].choose[0].template",
            "unknown template 'nope'",
            False,
        ),
        ({"coupon_fallback": "coupon"}, "steps[1].coupon_fallback", "carries a coupon", False),
        ({"coupon_fallback": "none"}, "steps[1].coupon_fallback", "names no variant", False),
    ],
)
def test_each_mistake_names_the_file_scenario_step_and_key(
    changes: dict[str, Any], where: str, reason: str, schema_refuses: bool
) -> None:
    text = _file(**changes)
    with pytest.raises(ScenarioError) as info:
        parse_scenarios(text, "shop.yaml")
    message = str(info.value)
    assert message.startswith(f"shop.yaml: scenario 'cart', {where}: "), message
    assert reason in message
    assert message.endswith("(step 'incentive')")
    assert _schema_takes(text) is not schema_refuses


def test_the_schema_flags_an_unknown_attribute_as_the_shop_types() -> None:
    assert not _schema_takes(_file(when="cart_vale >= 5"))
    assert _schema_takes(_file(when="repeat_buyer"))
