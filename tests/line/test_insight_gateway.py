"""The gateway's custom aggregation unit and insight calls, over real HTTP to the emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.line.gateway import (
    LineClientError,
    LineRateLimited,
    LineServerError,
    SdkLineGateway,
    UnitStatistics,
)
from line_emulator.insight import line_day
from tests.helpers.line import TEST_TOKEN

HELLO = [{"type": "text", "text": "カートに商品が残っています"}]
STATS = "/v2/bot/insight/message/event/aggregation"


@pytest.fixture
def gateway(emulator):
    gw = SdkLineGateway(TEST_TOKEN, emulator.base_url, connect_timeout=1, read_timeout=2)
    yield gw
    gw.close()


def test_a_push_carries_its_unit_as_one_element_list(emulator, gateway):
    user = emulator.add_user()["userId"]
    gateway.push(user, HELLO, aggregation_unit="cart_abandonment_reminder")
    gateway.push(user, HELLO)
    with_unit, without = emulator.requests("/v2/bot/message/push")
    assert with_unit["body"]["customAggregationUnits"] == ["cart_abandonment_reminder"]
    assert "customAggregationUnits" not in without["body"]


def test_a_unit_line_refuses_is_a_client_error(emulator, gateway):
    user = emulator.add_user()["userId"]
    with pytest.raises(LineClientError) as refused:
        gateway.push(user, HELLO, aggregation_unit="not-allowed")
    assert refused.value.status == 400
    assert emulator.inbox(user) == []


def test_usage_and_every_name_across_pages(emulator, gateway):
    user = emulator.add_user()["userId"]
    units = [f"u{n:03d}" for n in range(130)]  # more than one page of 100
    for unit in units:
        gateway.push(user, HELLO, aggregation_unit=unit)
    assert gateway.aggregation_unit_usage() == 130
    assert gateway.aggregation_unit_names() == units
    pages = emulator.requests("/v2/bot/message/aggregation/list")
    assert len(pages) == 2 and "start=" in pages[1]["query"]


def test_statistics_of_a_day_with_hidden_figures_as_none(emulator, gateway):
    users = [u["userId"] for u in emulator.add_users(120)]
    for user in users:
        gateway.push(user, HELLO, aggregation_unit="reminder_a")
    day = line_day(emulator.clock.now())
    figures = gateway.unit_statistics("reminder_a", day, day)
    direct = emulator.handle(
        "GET",
        STATS,
        {"authorization": f"Bearer {TEST_TOKEN}"},
        b"",
        f"customAggregationUnit=reminder_a&from={day:%Y%m%d}&to={day:%Y%m%d}",
    ).body["overview"]
    assert figures == UnitStatistics(direct["uniqueImpression"], direct["uniqueClick"])
    assert figures.unique_impression is not None and figures.unique_impression >= 20
    assert gateway.unit_statistics("reminder_a", day - timedelta(days=1), day - timedelta(1)) == (
        UnitStatistics(None, None)
    )
    request = emulator.requests(STATS)[-1]
    before = day - timedelta(days=1)
    assert f"from={before:%Y%m%d}" in request["query"] and f"to={before:%Y%m%d}" in request["query"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, LineRateLimited), (500, LineServerError), (400, LineClientError)],
)
def test_insight_errors_are_the_gateways_typed_errors(emulator, gateway, status, error):
    emulator.fail_next(status, path=STATS)
    day = line_day(emulator.clock.now())
    with pytest.raises(error) as failed:
        gateway.unit_statistics("reminder_a", day, day)
    assert failed.value.status == status
    assert failed.value.retriable == (status != 400)


def test_unit_count_errors_are_typed_too(emulator, gateway):
    emulator.fail_next(503, path="/v2/bot/message/aggregation/info")
    with pytest.raises(LineServerError):
        gateway.aggregation_unit_usage()
    assert gateway.aggregation_unit_usage() == 0


def test_a_unit_the_sdk_refuses_before_sending_is_a_client_error(emulator, gateway):
    day = line_day(emulator.clock.now())
    with pytest.raises(LineClientError):
        gateway.unit_statistics("x" * 31, day, day)
    assert emulator.requests(STATS) == []
