"""Audience and quota arithmetic, and the segment in the scenario file's condition language."""

from __future__ import annotations

import pytest

from bot.broadcast import audience, compose
from bot.line.gateway import MessageQuota
from tests.helpers.broadcast import NOON, add_shoppers, set_attributes


@pytest.mark.parametrize(
    ("limit", "used", "needed", "remaining", "enough"),
    [
        (None, 12_345, 100_000, None, True),  # no monthly limit set
        (1000, 0, 1000, 1000, True),  # exactly the rest
        (1000, 1, 1000, 999, False),
        (1000, 1200, 1, 0, False),  # over already (LINE counts late): nothing is left
        (500, 100, 0, 400, True),  # an empty audience always fits
    ],
)
def test_quota_arithmetic(limit, used, needed, remaining, enough):
    check = audience.QuotaCheck.of(MessageQuota(limit, used), needed)
    assert check.remaining == remaining
    assert check.enough is enough
    assert (check.refusal() is None) is enough


def test_refusal_names_remaining_and_audience():
    refusal = audience.QuotaCheck.of(MessageQuota(10_000, 9_000), 1_234).refusal()
    assert "残り送信数（1,000通）" in refusal and "配信対象（1,234人）" in refusal


def test_audience_counts_following_and_opted_in(app):
    add_shoppers(app, 4)
    add_shoppers(app, 3, start=10, opted_in=False)
    add_shoppers(app, 5, start=20, following=False)
    with app.app_context():
        session = app.extensions["bot"].db.session()
        figures = audience.count(session, None, app.extensions["bot"].settings, NOON)
    assert (figures.selected, figures.opted_in, figures.opted_out) == (7, 4, 3)


def test_segment_uses_member_attributes_and_derived_facts(app):
    add_shoppers(app, 4, member_prefix="M")
    add_shoppers(app, 1, start=9)  # not linked: no attributes, never selected by a condition
    set_attributes(app, "M1", tags=["VIP"], rank="gold", order_count=5, birthday_month=7)
    set_attributes(app, "M2", tags=[], rank="silver", order_count=0, birthday_month=1)
    set_attributes(app, "M3", tags=["vip"], rank="platinum", order_count=1)
    settings = app.extensions["bot"].settings

    def selected(text: str) -> int:
        with app.app_context():
            session = app.extensions["bot"].db.session()
            return audience.count(session, compose.parse_segment(text), settings, NOON).selected

    assert selected("") == 5
    assert selected("tags contains vip") == 2
    assert selected("rank in [gold, platinum]") == 2
    assert selected("first_purchase == true") == 1
    assert selected("birthday_this_month == true") == 1  # July in Tokyo
    assert selected("any:\n  - order_count >= 5\n  - rank == silver") == 2
    # As in the scenario file: a comparison on an unknown attribute is false, so `not:` of
    # it is true, while `not contains` itself needs the tags to be known.
    assert selected("tags not contains vip") == 1  # M2
    assert selected("not: tags contains vip") == 3  # M2, M4 and the unlinked shopper
    assert selected("linked_since >= 0") == 4


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("cart_value >= 5000", "カートごとの値"),
        ("all:\n  - cart_value > 1\n  - order_count > 1", "カートごとの値"),
        ("order_count == many", "配信先の条件が正しくありません"),
        ("colour == red", "配信先の条件が正しくありません"),
        ("all: [", "読めません"),
        ("x: &a [tags contains vip]\ny: *a", "参照"),
    ],
)
def test_segment_refusals(text, reason):
    with pytest.raises(compose.ComposeError, match=reason):
        compose.parse_segment(text)
