"""The scenario file: every rule refused with its field path, the shipped file loaded as
before, and the shipped JSON Schema generated from the same models."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from bot.delivery.conditions import parse_condition
from bot.delivery.scenario_schema import SCHEMA_PATH, json_schema, main, render_json_schema
from bot.delivery.scenarios import (
    DEFAULT_SCENARIOS_PATH,
    Choice,
    Scenario,
    ScenarioBook,
    ScenarioError,
    Step,
    Variant,
    load_scenarios,
    parse_scenarios,
)

# A valid scenario; each row of the table below breaks one thing in it.
GOOD: dict[str, Any] = {
    "trigger": "cart.updated",
    "steps": [
        {"id": "reminder", "delay": "15m", "template": "cart_reminder"},
        {
            "id": "incentive",
            "delay": "1d",
            "template": "cart_incentive",
            "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}],
        },
    ],
}
DROP = object()  # remove the key


def _with(changes: dict[tuple[str | int, ...], Any]) -> str:
    """The file with one scenario, `cart`: GOOD with each path set (or dropped)."""
    scenario = copy.deepcopy(GOOD)
    for path, value in changes.items():
        *parents, last = path
        node: Any = scenario
        for part in parents:
            node = node[part]
        if value is DROP:
            del node[last]
        else:
            node[last] = value
    return yaml.safe_dump({"scenarios": {"cart": scenario}}, allow_unicode=True)


# (what is changed, the field path reported, a fragment of the reason, whether the JSON
# Schema refuses it too: the rules it cannot say are False, and are checked on loading only).
REFUSED = [
    ({("trigger",): "cart.exploded"}, "trigger", "must be one of cart.updated, order.placed", 1),
    ({("trigger",): DROP}, "trigger", "is required (one of cart.updated", 1),
    ({("title",): ["x"]}, "title", "must be a string", 1),
    ({("category",): "promo"}, "category", "must be one of marketing, transactional", 1),
    ({("steps",): DROP}, "steps", "is required", 1),
    ({("steps",): []}, "steps", "must be a non-empty list", 1),
    ({("steps",): "reminder"}, "steps", "must be a list", 1),
    ({("steps", 0): 3}, "steps[0]", "must be a mapping", 1),
    (
        {("exit_on",): ["order.placed", "bogus"]},
        "exit_on[1]",
        "must be one of order.placed, order.paid, order.cancelled, cart.cleared, unfollow, "
        "opt_out, got 'bogus'",
        1,
    ),
    ({("exit_on",): "order.placed"}, "exit_on", "must be a list", 1),
    ({("attribution_window",): "7 days"}, "attribution_window", "'7 days' is not a duration", 1),
    ({("cooldown",): 1.5}, "cooldown", "must be a duration such as 30s, 15m, 12h or 3d", 1),
    ({("cooldown",): None}, "cooldown", "must be a duration", 1),
    ({("audience_within",): -3}, "audience_within", "is not a duration", 1),
    ({("max_messages",): 0}, "max_messages", "must be a whole number of at least 1", 1),
    ({("max_messages",): True}, "max_messages", "must be a whole number of at least 1", 1),
    ({("enabled",): "yes"}, "enabled", "must be true or false", 1),
    ({("colour",): "red"}, "colour", "unknown key (allowed: attribution_window, audience_", 1),
    ({("steps", 0, "id"): "Reminder"}, "steps[0].id", "must be lower_snake_case", 1),
    ({("steps", 0, "id"): None}, "steps[0].id", "must be a string", 1),
    ({("steps", 0, "delay"): DROP}, "steps[0].delay", "is required (e.g. 15m)", 1),
    ({("steps", 0, "delay"): "soon"}, "steps[0].delay", "'soon' is not a duration", 1),
    ({("steps", 0, "delay"): True}, "steps[0].delay", "must be a duration", 1),
    ({("steps", 0, "template"): DROP}, "steps[0].template", "is required", 1),
    ({("steps", 0, "template"): "nope"}, "steps[0].template", "unknown template 'nope'", 0),
    ({("steps", 0, "category"): "promo"}, "steps[0].category", "must be one of marketing", 1),
    ({("steps", 0, "expires_after"): "1w"}, "steps[0].expires_after", "is not a duration", 1),
    ({("steps", 0, "data"): [1]}, "steps[0].data", "must be a mapping", 1),
    ({("steps", 0, "condition"): 3}, "steps[0].condition", "must be a mapping", 1),
    (
        {("steps", 0, "condition"): {"low_stock_at_most": -1}},
        "steps[0].condition.low_stock_at_most",
        "must be a whole number ≥ 0",
        1,
    ),
    (
        {("steps", 0, "condition"): {"stock": 1}},
        "steps[0].condition.stock",
        "unknown key (allowed: low_stock_at_most)",
        1,
    ),
    (
        {("steps", 0, "colour"): 1},
        "steps[0].colour",
        "unknown key (allowed: before_deadline, category, ",
        1,
    ),
    ({("steps", 1, "variants"): {"A": 1}}, "steps[1].variants", "must be a list", 1),
    ({("steps", 1, "variants", 0): 3}, "steps[1].variants[0]", "must be a mapping", 1),
    ({("steps", 1, "variants", 0, "name"): DROP}, "steps[1].variants[0].name", "is required", 1),
    (
        {("steps", 1, "variants", 0, "name"): "A B"},
        "steps[1].variants[0].name",
        "must be a short name such as A or coupon_500",
        1,
    ),
    (
        {("steps", 1, "variants", 0, "weight"): 0},
        "steps[1].variants[0].weight",
        "must be a whole number of at least 1",
        1,
    ),
    (
        {("steps", 1, "variants", 0, "weight"): 1.5},
        "steps[1].variants[0].weight",
        "must be a whole number of at least 1",
        1,
    ),
    (
        {("steps", 1, "variants", 0, "template"): "nope"},
        "steps[1].variants[0].template",
        "unknown template 'nope'",
        0,
    ),
    (
        {("steps", 1, "variants", 0, "template_variant"): 3},
        "steps[1].variants[0].template_variant",
        "must be a string",
        1,
    ),
    (
        {("steps", 1, "variants", 0, "colour"): 1},
        "steps[1].variants[0].colour",
        "unknown key (allowed: data, name, template, template_variant, weight)",
        1,
    ),
    (
        {("steps", 1, "variants", 1, "name"): "A"},
        "steps[1].variants",
        "variant names must be unique",
        0,
    ),
    ({("steps", 1, "id"): "reminder"}, "steps", "step ids must be unique", 0),
    # Without ids the steps are step1, step2, …: a written step2 can clash with a default.
    (
        {("steps", 0, "id"): DROP, ("steps", 1, "id"): "step1"},
        "steps",
        "step ids must be unique",
        0,
    ),
    ({("steps", 1, "delay"): "1m"}, "steps", "delays must not decrease from one step", 0),
    (
        {("category",): "transactional", ("steps", 0, "data"): {"coupon": {"code": "X"}}},
        "steps[0].data.coupon",
        "is an offer, so the step is marketing: set category: marketing on the step",
        0,
    ),
    (
        {
            ("steps", 1, "category"): "transactional",
            ("steps", 1, "variants", 0, "data"): {"incentive": "100ポイント"},
        },
        "steps[1].variants[0].data.incentive",
        "is an offer",
        0,
    ),
]


def _schema_refuses(text: str) -> bool:
    validator = jsonschema_rs.Draft7Validator(json_schema())
    return not validator.is_valid(yaml.safe_load(text))


@pytest.mark.parametrize(
    ("changes", "field", "reason", "schema_refuses"),
    REFUSED,
    ids=[row[1] + ":" + row[2][:24] for row in REFUSED],
)
def test_each_rule_is_refused_naming_the_file_scenario_and_field(
    changes: dict[tuple[str | int, ...], Any], field: str, reason: str, schema_refuses: int
) -> None:
    text = _with(changes)
    with pytest.raises(ScenarioError) as info:
        parse_scenarios(text, "shop.yaml")
    message = str(info.value)
    assert message.startswith(f"shop.yaml: scenario 'cart', {field}: "), message
    assert reason in message
    # The shipped schema says the same (an editor flags it as the shop types), except for
    # the rules JSON Schema cannot say: a known template, offers, step order, unique names.
    assert _schema_refuses(text) is bool(schema_refuses)


def test_the_good_scenario_of_the_table_loads_and_the_schema_takes_it() -> None:
    book = parse_scenarios(_with({}), "shop.yaml")
    assert [s.id for s in book.get("cart").steps] == ["reminder", "incentive"]  # type: ignore[union-attr]
    assert not _schema_refuses(_with({}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "shop.yaml: top level must have a 'scenarios:' mapping"),
        ("- 1", "shop.yaml: top level must have a 'scenarios:' mapping"),
        ("scenarios: [1, 2]", "shop.yaml: top level must have a 'scenarios:' mapping"),
        ("shop: x", "shop.yaml: top level must have a 'scenarios:' mapping"),
        ("scenarios:\n  cart: 3", "shop.yaml: scenario 'cart': must be a mapping"),
        (
            _with({}).replace("cart:", "Cart-Flow:"),
            "shop.yaml: scenario 'Cart-Flow', id: must be lower_snake_case",
        ),
        (_with({}).replace("cart:", "1:"), "shop.yaml: scenario '1', id: must be lower_snake_case"),
        ("scenarios: [", "shop.yaml: not valid YAML ("),
    ],
)
def test_file_level_refusals(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenarios(text, "shop.yaml")
    assert str(info.value).startswith(expected)


def test_an_unreadable_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "scenarios.yaml"
    with pytest.raises(ScenarioError, match=r"scenarios\.yaml: cannot read \("):
        load_scenarios(missing)


def test_what_the_file_leaves_out_gets_its_default() -> None:
    text = """
defaults: &reminder {delay: 15m, template: cart_reminder}   # other top-level keys are ignored
scenarios:
  cart:
    title: 2024
    trigger: cart.updated
    exit_on:
    steps:
      - *reminder
      - {delay: 3600, template: cart_reminder, data: , condition: , variants: }
"""
    cart = parse_scenarios(text).get("cart")
    assert cart == Scenario(
        id="cart",
        title="2024",
        trigger="cart.updated",
        steps=(
            Step("step1", 0, timedelta(minutes=15), "cart_reminder", True, timedelta(days=1)),
            Step("step2", 1, timedelta(hours=1), "cart_reminder", True, timedelta(days=1)),
        ),
        exit_on=frozenset({"unfollow"}),
        attribution_window=timedelta(days=7),
        max_messages=2,
    )


def test_a_template_of_the_shops_own_folder_is_known(tmp_path: Path) -> None:
    (tmp_path / "gift_wrap@B.json").write_text("{}", encoding="utf-8")
    text = "scenarios: {gift: {trigger: order.placed, steps: [{delay: 0s, template: gift_wrap}]}}"
    with pytest.raises(ScenarioError, match="unknown template 'gift_wrap'"):
        parse_scenarios(text)
    assert parse_scenarios(text, templates_dir=tmp_path).get("gift") is not None


# -- the shipped file ------------------------------------------------------------------------

D = timedelta(days=1)
REVIEW_POINTS = "レビューを書いてくださった方に次回使える100ポイントを差し上げます"


def _step(sid: str, index: int, delay: timedelta, template: str, marketing: bool, **kw: Any):
    return Step(sid, index, delay, template, marketing, kw.pop("expires_after", D), **kw)


def _scenario(sid: str, title: str, trigger: str, steps: tuple[Step, ...], **kw: Any):
    return Scenario(
        id=sid,
        title=title,
        trigger=trigger,
        steps=steps,
        exit_on=kw.pop("exit_on", frozenset({"unfollow"})),
        attribution_window=timedelta(days=7),
        max_messages=kw.pop("max_messages", len(steps)),
        **kw,
    )


# What data/scenarios.yaml loaded into before its shape moved to the models.
SHIPPED = (
    _scenario(
        "cart_abandonment",
        "カゴ落ちリマインド",
        "cart.updated",
        (
            _step(
                "reminder", 0, timedelta(minutes=15), "cart_reminder", True,
                expires_after=timedelta(hours=12),
            ),
            _step(
                "incentive", 1, D, "cart_incentive", True,
                variants=(
                    Variant("free_shipping", 50, data={"free_shipping_threshold": 5000}),
                    Variant(
                        "coupon", 50,
                        data={
                            "coupon": {
                                "code": "KAGO300",
                                "description": "お買い物かごの商品に使える300円OFFクーポン",
                            }
                        },
                    ),
                ),
            ),
            _step("low_stock", 2, 3 * D, "cart_low_stock", True, low_stock_at_most=3),
        ),
        exit_on=frozenset({"order.placed", "cart.cleared", "unfollow", "opt_out"}),
        max_messages=3,
    ),
    # The segmented example, shipped off.
    _scenario(
        "cart_abandonment_by_customer",
        "カゴ落ちリマインド(初回・リピーター別)",
        "cart.updated",
        (
            _step(
                "reminder", 0, timedelta(minutes=15), "cart_reminder", True,
                expires_after=timedelta(hours=12),
            ),
            _step(
                "incentive", 1, D, "cart_incentive", True,
                variants=(
                    Variant("free_shipping", 1, data={"free_shipping_threshold": 5000}),
                    Variant(
                        "coupon", 1,
                        data={
                            "coupon": {
                                "code": "THANKS500",
                                "description": "いつもご利用のお客様へ、500円OFFクーポン",
                            }
                        },
                    ),
                ),
                choices=(
                    Choice(parse_condition("order_count == 0"), "free_shipping"),
                    Choice(
                        parse_condition(
                            {
                                "any": [
                                    "order_count > 0",
                                    "rank in [gold, platinum]",
                                    "tags contains vip",
                                ]
                            }
                        ),
                        "coupon",
                    ),
                    Choice(None, "free_shipping"),
                ),
                coupon_fallback="free_shipping",
            ),
            _step(
                "low_stock", 2, 3 * D, "cart_low_stock", True, low_stock_at_most=3,
                when=parse_condition("cart_value >= 3000"),
            ),
        ),
        exit_on=frozenset({"order.placed", "cart.cleared", "unfollow", "opt_out"}),
        max_messages=3,
        enabled=False,
    ),
    _scenario(
        "order_thanks", "ご注文御礼", "order.placed",
        (_step("thanks", 0, timedelta(0), "purchase_thanks", False),),
    ),
    _scenario(
        "shipping_notice", "発送のお知らせ", "order.shipped",
        (_step("shipped", 0, timedelta(0), "shipping_notice", False, expires_after=3 * D),),
    ),
    _scenario(
        "after_delivery",
        "お届け後のフォロー",
        "order.delivered",
        (
            _step(
                "review", 0, 3 * D, "review_request", True, expires_after=3 * D,
                data={"incentive": REVIEW_POINTS},
            ),
            _step("repeat_offer", 1, 30 * D, "repeat_offer", True, expires_after=7 * D),
        ),
    ),
    _scenario(
        "payment_reminder", "お支払い期限のお知らせ", "order.payment_pending",
        (
            _step(
                "day_before", 0, timedelta(0), "payment_reminder", False,
                expires_after=timedelta(hours=21), before_deadline=D,
            ),
            _step(
                "hours_before", 1, timedelta(0), "payment_reminder", False,
                expires_after=timedelta(hours=3), before_deadline=timedelta(hours=3),
            ),
        ),
        exit_on=frozenset({"order.paid", "order.cancelled", "unfollow"}),
    ),
    _scenario(
        "win_back", "休眠顧客の掘り起こし", "customer.dormant",
        (_step("come_back", 0, timedelta(0), "repeat_offer", True, expires_after=3 * D),),
        exit_on=frozenset({"order.placed", "opt_out", "unfollow"}),
        dormant_days=90,
        enabled=False,
    ),
    _scenario(
        "birthday_offer", "お誕生月のプレゼント", "customer.birthday_month",
        (_step("birthday", 0, timedelta(0), "repeat_offer", True, expires_after=7 * D),),
        exit_on=frozenset({"opt_out", "unfollow"}),
        enabled=False,
    ),
    _scenario(
        "restock", "再入荷のお知らせ", "product.restocked",
        (
            _step(
                "restocked", 0, timedelta(0), "restock_notice", True, expires_after=2 * D,
                multicast=True,
            ),
        ),
        audience_within=30 * D,
    ),
)  # fmt: skip


# Since steps have channels, the cart reminders may also go by e-mail (the first also by SMS),
# and so may the payment reminders (the last also by SMS).
CHANNELS = {
    ("cart.updated", "reminder"): ("line", "email", "sms"),
    ("cart.updated", "incentive"): ("line", "email"),
    ("cart.updated", "low_stock"): ("line", "email"),
    ("order.payment_pending", "day_before"): ("line", "email"),
    ("order.payment_pending", "hours_before"): ("line", "email", "sms"),
}


def test_the_shipped_scenarios_load_as_they_did() -> None:
    shipped = tuple(
        replace(
            s,
            steps=tuple(
                replace(st, channels=CHANNELS.get((s.trigger, st.id), st.channels))
                for st in s.steps
            ),
        )
        for s in SHIPPED
    )
    assert load_scenarios() == ScenarioBook(shipped, str(DEFAULT_SCENARIOS_PATH))


# -- the JSON Schema -------------------------------------------------------------------------


def test_the_shipped_schema_is_the_one_the_models_make() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_json_schema(), (
        "data/scenarios.schema.json is stale: run python -m bot.delivery.scenario_schema"
    )


def test_the_schema_is_valid_draft_7_and_takes_the_shipped_file() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert jsonschema_rs.meta.is_valid(schema)
    shipped = yaml.safe_load(DEFAULT_SCENARIOS_PATH.read_text(encoding="utf-8"))
    assert jsonschema_rs.Draft7Validator(schema).is_valid(shipped)


def test_the_shipped_file_names_its_schema_for_editors() -> None:
    first = DEFAULT_SCENARIOS_PATH.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    # The path is relative to the YAML file.
    assert (DEFAULT_SCENARIOS_PATH.parent / first.removeprefix(prefix)) == SCHEMA_PATH


def test_the_module_regenerates_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "scenarios.schema.json"
    main([str(target)])
    assert target.read_text(encoding="utf-8") == render_json_schema()
    assert str(target) in capsys.readouterr().out
