"""Holdout assignment and promoted winners in the engine; attribution window edges as the
report counts them; the statistics against published values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.delivery import engine
from bot.delivery.scenarios import ScenarioError, in_holdout, parse_scenarios
from bot.models import Delivery, DeliveryState, Flow, FlowState, Operator, VariantPromotion
from bot.report.build import build_report
from bot.report.service import withdraw_promotion
from bot.report.stats import newcombe_difference, sample_size_per_arm, welch_difference, wilson
from tests.helpers.report import NOW, PERIOD, S1, SCENARIOS, T0, History, book

# -- statistics ------------------------------------------------------------------------------


def test_newcombe_matches_the_published_examples():
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10.
    for (x1, n1, x2, n2), (low, high) in {
        (56, 70, 48, 80): (0.0524, 0.3339),
        (9, 10, 3, 10): (0.1705, 0.8090),
        (5, 56, 0, 29): (-0.0381, 0.1926),
    }.items():
        interval = newcombe_difference(x1, n1, x2, n2)
        assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)
    assert newcombe_difference(1, 10, 0, 0) is None


def test_wilson_and_sample_size():
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert sample_size_per_arm(0.10, 0.15) == 686  # the textbook figure without correction
    assert sample_size_per_arm(0.1, 0.1) is None


def test_welch_difference():
    # A: 1, 2, 3 (mean 2, variance 1); B: 0, 0, 0, 0 → 2 ± 1.96 × sqrt(1/3)
    interval = welch_difference(3, 6, 14, 4, 0, 0)
    assert interval.estimate == 2
    assert round(interval.high - 2, 4) == round(1.959964 * (1 / 3) ** 0.5, 4)
    assert welch_difference(1, 1, 1, 5, 0, 0) is None


# -- holdout ---------------------------------------------------------------------------------


def test_holdout_is_stable_and_near_its_share():
    first = [in_holdout("cart", n, 10) for n in range(20_000)]
    assert first == [in_holdout("cart", n, 10) for n in range(20_000)]
    assert 0.09 < sum(first) / len(first) < 0.11
    other = [in_holdout("post_purchase", n, 10) for n in range(20_000)]
    assert other != first  # each scenario draws its own group
    assert not any(in_holdout("cart", n, 0) for n in range(1000))


def test_holdout_setting_is_checked():
    assert book().get("cart").holdout == 10.0
    with pytest.raises(ScenarioError, match="holdout: must be a percentage"):
        parse_scenarios(SCENARIOS.replace("holdout: 10%", "holdout: 80%"), "<t>")
    with pytest.raises(ScenarioError, match="holdout"):
        parse_scenarios(SCENARIOS.replace("holdout: 10%", "holdout: ten"), "<t>")


def test_holdout_shoppers_get_their_flow_recorded_but_nothing_sent(db):
    session = db.session()
    # Shopper ids come from the database's sequence: create shoppers until one of each.
    h = History(session)
    held_id = kept_id = None
    for n in range(1, 500):
        shopper_id = h.shopper(n).id
        if in_holdout("cart", shopper_id, 10):
            held_id = held_id or shopper_id
        else:
            kept_id = kept_id or shopper_id
        if held_id and kept_id:
            break
    assert held_id and kept_id
    scenario = book().get("cart")
    for shopper_id in (held_id, kept_id):
        shopper = next(s for s in h.shoppers.values() if s.id == shopper_id)
        engine.start_flow(
            session,
            shopper,
            scenario,
            f"cart:{shopper_id}",
            anchor=T0,
            context={},
            now=T0,
            restart=False,
        )
    session.flush()
    held_rows = session.scalars(select(Delivery).where(Delivery.shopper_id == held_id)).all()
    kept_rows = session.scalars(select(Delivery).where(Delivery.shopper_id == kept_id)).all()
    assert len(held_rows) == len(kept_rows) == 2
    assert {(d.state, d.reason) for d in held_rows} == {(DeliveryState.SKIPPED, "holdout")}
    assert {d.state for d in kept_rows} == {DeliveryState.PENDING}
    flows = {f.shopper_id: f for f in session.scalars(select(Flow))}
    assert (flows[held_id].state, flows[held_id].end_reason) == (FlowState.ENDED, "holdout")
    assert flows[kept_id].state is FlowState.ACTIVE


def test_a_promoted_variant_takes_every_new_plan(db):
    session = db.session()
    h = History(session)
    shoppers = [h.shopper(n) for n in range(1, 41)]
    session.add(
        VariantPromotion(
            scenario_id="cart",
            step_id="s2",
            variant="C",
            promoted_by=None,
            promoted_by_name="管理 太郎",
            promoted_at=T0,
        )
    )
    session.flush()
    scenario = parse_scenarios(SCENARIOS.replace("holdout: 10%", "holdout: 0%"), "<t>").get("cart")
    for shopper in shoppers:
        engine.start_flow(
            session,
            shopper,
            scenario,
            f"cart:{shopper.id}",
            anchor=T0,
            context={},
            now=T0,
            restart=False,
        )
    session.flush()
    variants = session.scalars(select(Delivery.variant).where(Delivery.step_id == "s2")).all()
    assert len(variants) == 40 and set(variants) == {"C"}
    # Withdrawn: the next plans spread over the file's split again; planned ones keep C.
    admin = Operator(id=1, name="管理 太郎")
    withdrawn = withdraw_promotion(session, scenario_id="cart", step_id="s2", operator=admin)
    assert withdrawn.variant == "C"
    for shopper in [h.shopper(n) for n in range(41, 81)]:
        engine.start_flow(
            session, shopper, scenario, f"cart:{shopper.id}", anchor=T0, context={}, now=T0,
            restart=False,
        )  # fmt: skip
    session.flush()
    variants = session.scalars(
        select(Delivery.variant).where(Delivery.step_id == "s2").order_by(Delivery.id)
    ).all()
    assert len(variants) == 80 and set(variants[40:]) == {"A", "B", "C"}
    assert set(variants[:40]) == {"C"}
    # Without the promotion the same shoppers spread over A, B and C.
    assert {scenario.step("s2").choose_variant("cart", s.id).name for s in shoppers} == {
        "A",
        "B",
        "C",
    }


# -- attribution window edges ----------------------------------------------------------------


def test_orders_at_the_window_edge(db):
    """The engine attributes an order placed exactly 2 days (the window) after the message,
    not one a second later; the report counts what the engine attributed."""
    session = db.session()
    h = History(session)
    for n in (1, 2):
        h.delivery(f"s1_{n}", n, "s1", due=S1)
    windows = {"cart": timedelta(days=2)}
    for n, late in ((1, timedelta(0)), (2, timedelta(seconds=1))):
        at = S1 + timedelta(days=2) + late
        engine.attribute_order(
            session,
            h.shoppers[n],
            order_id=f"O{n}",
            amount=1000 * n,
            ordered_at=at,
            windows=windows,
            now=at,
        )
    session.commit()
    report = build_report(session, book(), PERIOD, NOW)
    s1 = next(r for r in report["rows"] if r["step"] == "s1")
    assert (s1["sent"], s1["converted"], s1["orders"], s1["revenue"]) == (2, 1, 1, 1000)
    assert s1["cvr"] == 0.5
