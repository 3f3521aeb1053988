import re
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from bot.delivery.aggregation import (
    UNIT_LIMIT,
    UNIT_MAX,
    UNIT_RESERVE,
    UnitBudget,
    aggregation_unit,
    broadcast_unit,
    line_month,
)
from bot.line.gateway import InMemoryLineGateway, LineServerError
from bot.models import DeliveryState
from tests.helpers.delivery import START, cart_body, pushes


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


def test_a_broadcast_unit_is_valid_and_never_a_step_unit() -> None:
    assert broadcast_unit(42) == "Broadcast_42"
    longest = broadcast_unit(2**63 - 1)  # the largest id the database hands out
    assert len(longest) <= UNIT_MAX and re.fullmatch(r"[A-Za-z0-9_]+", longest)
    # Steps named to look like broadcasts, readable or hashed, and ordinary ones.
    steps = [
        ("Broadcast", "42", None),
        ("broadcast", "42", None),
        ("B", "roadcast", "42"),
        ("Broadcast_42", "x" * 30, "A"),
        ("Broadcast", "4", "2"),
        ("カゴ落ち", "1通目", None),
        *[("cart_abandoned_long_scenario", f"reminder_{n}", "Coupon") for n in range(50)],
        *[(f"Broadcast_{n}", "s", None) for n in range(200)],
    ]
    units = {aggregation_unit(*step) for step in steps}
    assert all(not u[0].isupper() for u in units)  # capitals start broadcast units only
    assert all(re.fullmatch(r"[A-Za-z0-9_]{1,30}", u) for u in units)
    assert units.isdisjoint(broadcast_unit(n) for n in range(100_000))


def test_schema_valid_step_units_are_unchanged() -> None:
    # Scenario ids start with a-z, so the capital rule leaves every existing unit as it was.
    assert aggregation_unit("cart_abandonment", "reminder", None) == "cart_abandonment_reminder"
    assert aggregation_unit("cart", "r2", "Coupon") == "cart_r2_Coupon"


# -- the month's unit budget -----------------------------------------------------------------

JUNE = datetime(2025, 6, 10, 3, 0, tzinfo=UTC)


def _withheld(why: str) -> float:
    return REGISTRY.get_sample_value("bot_aggregation_units_withheld_total", {"why": why}) or 0.0


def test_units_line_counts_already_are_always_used() -> None:
    line = InMemoryLineGateway(units_this_month=[f"other_{n}" for n in range(995)])
    budget = UnitBudget()
    assert budget.allowed(["other_7"], line, JUNE) == {"other_7"}


def test_a_new_unit_is_withheld_short_of_the_limit() -> None:
    line = InMemoryLineGateway(units_this_month=[f"other_{n}" for n in range(988)])
    budget = UnitBudget(limit=1000, reserve=10)
    before = _withheld("limit")
    assert budget.allowed(["cart_reminder", "cart_incentive", "cart_low"], line, JUNE) == {
        "cart_incentive",  # 989
        "cart_low",  # 990: the last one under limit - reserve
    }
    assert _withheld("limit") == before + 1
    # Once handed out, a unit stays usable for the month.
    assert budget.allowed(["cart_low"], line, JUNE) == {"cart_low"}


def test_lines_count_is_read_again_after_an_hour_and_in_a_new_month() -> None:
    line = InMemoryLineGateway()
    budget = UnitBudget(limit=5, reserve=0)
    assert budget.allowed(["a"], line, JUNE) == {"a"}
    line.units_this_month.extend(["x1", "x2", "x3", "x4", "x5"])  # another tool's units
    assert budget.allowed(["b"], line, JUNE + timedelta(minutes=30)) == {"b"}  # not yet known
    assert budget.allowed(["c"], line, JUNE + timedelta(minutes=61)) == set()
    assert [op for op, _ in line.calls].count("aggregation_info") == 2
    line.units_this_month.clear()  # LINE's new month
    july = datetime(2025, 6, 30, 15, 0, tzinfo=UTC)  # 00:00 on July 1st in Japan
    assert line_month(july) == "202507"
    assert budget.allowed(["c"], line, july) == {"c"}


def test_without_lines_count_pushes_go_without_units_and_it_is_asked_again() -> None:
    line = InMemoryLineGateway()
    line.unit_failures.append(LineServerError("down", status=500))
    budget = UnitBudget()
    before = _withheld("unknown")
    assert budget.allowed(["a", "b"], line, JUNE) == set()
    assert _withheld("unknown") == before + 2
    assert budget.allowed(["a"], line, JUNE + timedelta(minutes=1)) == set()  # not hammered
    assert budget.allowed(["a"], line, JUNE + timedelta(minutes=6)) == {"a"}
    assert [op for op, _ in line.calls].count("aggregation_info") == 2


def test_each_push_of_a_step_carries_its_unit(shop, line) -> None:
    shop.event("cart.updated", cart_body())
    shop.at(START + timedelta(minutes=15))
    shop.tick()
    (push,) = pushes(line)
    assert push["aggregation_unit"] == "cart_abandonment_reminder"


def test_past_the_limit_the_push_goes_out_without_a_unit(shop, line) -> None:
    line.units_this_month.extend(f"other_{n}" for n in range(UNIT_LIMIT - UNIT_RESERVE))
    shop.event("cart.updated", cart_body())
    shop.at(START + timedelta(minutes=15))
    shop.tick()
    (push,) = pushes(line)
    assert "aggregation_unit" not in push
    assert shop.delivery("reminder").state is DeliveryState.SENT
