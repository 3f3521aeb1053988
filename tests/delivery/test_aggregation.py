import re

from bot.delivery.aggregation import UNIT_MAX, aggregation_unit


def test_readable_names_are_kept() -> None:
    assert aggregation_unit("cart_abandoned", "reminder_1", None) == "cart_abandoned_reminder_1"
    assert aggregation_unit("cart", "r2", "coupon") == "cart_r2_coupon"


def test_long_or_foreign_names_become_distinct_valid_units() -> None:
    units = {
        aggregation_unit("cart_abandoned_long_scenario", "reminder_2", "free_shipping"),
        aggregation_unit("cart_abandoned_long_scenario", "reminder_2", "coupon_10pct"),
        aggregation_unit("カゴ落ち", "1通目", None),
        aggregation_unit("カゴ落ち", "2通目", None),
    }
    assert len(units) == 4
    for unit in units:
        assert len(unit) <= UNIT_MAX
        assert re.fullmatch(r"[A-Za-z0-9_]+", unit)


def test_the_same_step_always_gets_the_same_unit() -> None:
    first = aggregation_unit("cart_abandoned_long_scenario", "reminder_2", "free_shipping")
    assert first == aggregation_unit("cart_abandoned_long_scenario", "reminder_2", "free_shipping")
