"""A broadcast's custom aggregation unit: on every request it sends, within the month's unit
budget that scenario pushes share, and never at the cost of the message."""

from __future__ import annotations

from freezegun import freeze_time
from prometheus_client import REGISTRY

from bot.delivery.aggregation import UNIT_LIMIT, UNIT_RESERVE, broadcast_unit
from bot.line.gateway import InMemoryLineGateway, LineServerError
from tests.helpers.broadcast import (
    NOON,
    add_shoppers,
    make_broadcast,
    outcomes,
    personalised_content,
    run_sender,
    script_multicasts,
)
from tests.helpers.delivery import pushes


def _withheld(why: str) -> float:
    return REGISTRY.get_sample_value("bot_aggregation_units_withheld_total", {"why": why}) or 0.0


def test_every_multicast_batch_carries_the_broadcasts_unit(app, line: InMemoryLineGateway):
    add_shoppers(app, 1201)
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id)
    requests = line.sent("multicast")
    assert len(requests) == 3
    assert {r.get("aggregation_unit") for r in requests} == {broadcast_unit(broadcast_id)}
    assert broadcast_unit(broadcast_id) in line.units_this_month


def test_a_resent_batch_carries_the_unit_too(app, line: InMemoryLineGateway):
    add_shoppers(app, 2)
    script_multicasts(line, LineServerError("Internal server error", status=500))
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id)
    (accepted,) = line.sent("multicast")  # the second try, with the same key
    assert accepted["aggregation_unit"] == broadcast_unit(broadcast_id)


def test_each_personalised_push_carries_the_unit(app, line: InMemoryLineGateway):
    add_shoppers(app, 3)
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app, content=personalised_content(app))
        run_sender(app, broadcast_id)
    sent = pushes(line)
    assert sorted(p["messages"][0]["altText"].split("、")[0] for p in sent) == [
        "テスト 1様",
        "テスト 2様",
        "テスト 3様",
    ]
    assert {p.get("aggregation_unit") for p in sent} == {broadcast_unit(broadcast_id)}


def test_past_the_unit_limit_the_broadcast_goes_out_without_its_unit(app, line):
    # Other tools and the scenarios have used the month's units up to the reserve.
    line.units_this_month.extend(f"other_{n}" for n in range(UNIT_LIMIT - UNIT_RESERVE))
    add_shoppers(app, 3)
    before = _withheld("limit")
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id)
        personalised_id = make_broadcast(app, content=personalised_content(app), key="p" * 20)
    with freeze_time(NOON.replace(day=2)):  # the next day: under the daily cap again
        run_sender(app, personalised_id)
    (multicast,) = line.sent("multicast")
    assert "aggregation_unit" not in multicast
    assert len(multicast["to"]) == 3
    assert outcomes(app, broadcast_id) == {"sent": 3}
    sent = pushes(line)
    assert len(sent) == 3 and all("aggregation_unit" not in p for p in sent)
    assert outcomes(app, personalised_id) == {"sent": 3}
    assert _withheld("limit") > before  # counted (and logged) as withheld
    assert broadcast_unit(broadcast_id) not in line.units_this_month


def test_a_unit_line_already_counts_is_used_even_past_the_limit(app, line):
    line.units_this_month.extend(f"other_{n}" for n in range(UNIT_LIMIT - UNIT_RESERVE))
    add_shoppers(app, 2)
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        line.units_this_month.append(broadcast_unit(broadcast_id))  # used earlier this month
        run_sender(app, broadcast_id)
    (multicast,) = line.sent("multicast")
    assert multicast["aggregation_unit"] == broadcast_unit(broadcast_id)
