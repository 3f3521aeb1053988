"""The emulated custom aggregation units and per-unit insight, over real HTTP, against the
shapes of LINE's OpenAPI spec (the SDK's models are generated from it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from linebot.v3.insight import GetStatisticsPerUnitResponse
from linebot.v3.messaging import (
    GetAggregationUnitNameListResponse,
    GetAggregationUnitUsageResponse,
)

from line_emulator.clock import ManualClock
from line_emulator.insight import line_day
from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api, text
from tests.line_spec.schemas import violations

PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"
INFO = "/v2/bot/message/aggregation/info"
LIST = "/v2/bot/message/aggregation/list"
STATS = "/v2/bot/insight/message/event/aggregation"


def push(api: Api, to: str, unit: Any, *messages: dict[str, Any]) -> Any:
    body: dict[str, Any] = {"to": to, "messages": list(messages) or [text()]}
    if unit is not None:
        body["customAggregationUnits"] = unit
    return api.post(PUSH, body)


def today(clock: ManualClock) -> str:
    return line_day(clock.now()).strftime("%Y%m%d")


def stats(api: Api, unit: str, first: str, last: str) -> Any:
    return api.get(STATS, params={"customAggregationUnit": unit, "from": first, "to": last})


@pytest.mark.parametrize(
    "units",
    [["a", "b"], ["with-dash"], ["x" * 31], [""], "cart_reminder", [7]],
)
def test_a_push_with_units_line_would_refuse_is_a_400(emu: EmulatorServer, api: Api, units):
    user = emu.add_user()["userId"]
    # The spec's own rule (MulticastRequest spells it out) refuses the same units.
    assert violations(
        "messaging-api",
        "MulticastRequest",
        {"to": [user], "messages": [text()], "customAggregationUnits": units},
    )
    response = push(api, user, units)
    assert response.status_code == 400
    assert response.json()["details"][0]["property"] == "customAggregationUnits"
    assert emu.inbox(user) == []


def test_one_unit_of_up_to_30_characters_is_accepted_and_counted(emu: EmulatorServer, api: Api):
    user = emu.add_user()["userId"]
    longest = "A_" + "z9" * 14
    assert len(longest) == 30
    body = {"to": [user], "messages": [text()], "customAggregationUnits": [longest]}
    assert violations("messaging-api", "MulticastRequest", body) == []
    assert push(api, user, [longest]).status_code == 200
    assert push(api, user, ["cart_reminder"]).status_code == 200
    assert push(api, user, ["cart_reminder"]).status_code == 200  # counted once
    assert push(api, user, None).status_code == 200

    usage = api.get(INFO)
    assert usage.status_code == 200
    assert violations("messaging-api", "GetAggregationUnitUsageResponse", usage.json()) == []
    assert (
        GetAggregationUnitUsageResponse.from_dict(usage.json()).num_of_custom_aggregation_units == 2
    )
    names = api.get(LIST).json()
    assert violations("messaging-api", "GetAggregationUnitNameListResponse", names) == []
    assert GetAggregationUnitNameListResponse.from_dict(names).custom_aggregation_units == [
        longest,
        "cart_reminder",
    ]
    assert "next" not in names


def test_the_name_list_pages_with_a_continuation_token(emu: EmulatorServer, api: Api):
    user = emu.add_user()["userId"]
    units = [f"unit_{n}" for n in range(5)]
    for unit in units:
        assert push(api, user, [unit]).status_code == 200
    seen: list[str] = []
    start = None
    for _ in range(5):
        params = {"limit": "2", **({"start": start} if start else {})}
        page = api.get(LIST, params=params).json()
        assert violations("messaging-api", "GetAggregationUnitNameListResponse", page) == []
        seen += page["customAggregationUnits"]
        start = page.get("next")
        if start is None:
            break
    assert seen == units
    assert api.get(LIST, params={"start": "not-a-token"}).status_code == 400
    assert api.get(LIST, params={"limit": "0"}).status_code == 400


def test_a_new_month_starts_a_new_count(emu: EmulatorServer, api: Api, clock: ManualClock):
    user = emu.add_user()["userId"]
    push(api, user, ["june"])
    clock.advance(40 * 86400)
    assert api.get(INFO).json() == {"numOfCustomAggregationUnits": 0}
    push(api, user, ["july"])
    assert api.get(LIST).json()["customAggregationUnits"] == ["july"]


def test_a_new_unit_past_the_month_limit_is_refused(emu: EmulatorServer, api: Api):
    emu.aggregation_unit_limit = 2
    user = emu.add_user()["userId"]
    assert push(api, user, ["one"]).status_code == 200
    assert push(api, user, ["two"]).status_code == 200
    refused = push(api, user, ["three"])
    assert refused.status_code == 400
    assert "limit" in refused.json()["message"]
    assert push(api, user, ["one"]).status_code == 200  # a unit already counted still works
    assert push(api, user, None).status_code == 200
    assert api.get(INFO).json() == {"numOfCustomAggregationUnits": 2}
    assert len(emu.inbox(user)) == 4


def _reach(emu: EmulatorServer, api: Api, unit: str, users: int, bubbles: int = 1) -> None:
    ids = [u["userId"] for u in emu.add_users(users)]
    for start in range(0, users, 500):
        response = api.post(
            MULTICAST,
            {
                "to": ids[start : start + 500],
                "messages": [text(f"{n}") for n in range(bubbles)],
                "customAggregationUnits": [unit],
            },
        )
        assert response.status_code == 200, response.json()


def test_figures_follow_what_was_delivered_and_hide_under_20(
    emu: EmulatorServer, api: Api, clock: ManualClock
):
    _reach(emu, api, "big", 200, bubbles=2)
    _reach(emu, api, "small", 10)
    day = today(clock)

    big = stats(api, "big", day, day)
    assert big.status_code == 200
    assert violations("insight", "GetStatisticsPerUnitResponse", big.json()) == []
    parsed = GetStatisticsPerUnitResponse.from_dict(big.json())
    seen, tapped = parsed.overview.unique_impression, parsed.overview.unique_click
    # A share of the 200 recipients saw it, a share of those tapped: believable, not exact.
    assert 0.4 * 200 <= seen <= 0.8 * 200
    assert 0.08 * seen <= tapped <= 0.32 * seen
    assert [m.seq for m in parsed.messages] == [1, 2]
    assert parsed.clicks == []
    assert stats(api, "big", day, day).json() == big.json()  # the same figures every time

    small = stats(api, "small", day, day).json()
    assert violations("insight", "GetStatisticsPerUnitResponse", small) == []
    assert small["overview"]["uniqueImpression"] is None  # under 20 users: hidden, not 0
    assert small["overview"]["uniqueClick"] is None
    unknown = stats(api, "never_used", day, day).json()
    assert unknown["overview"]["uniqueImpression"] is None and unknown["messages"] == []


def test_figures_are_per_japanese_day(emu: EmulatorServer, api: Api, clock: ManualClock):
    clock.set(datetime(2025, 7, 1, 14, 0, tzinfo=UTC).timestamp())  # 23:00 in Japan
    _reach(emu, api, "evening", 60)
    clock.advance(2 * 3600)  # 01:00 the next day in Japan
    _reach(emu, api, "evening", 60)

    def seen(first: str, last: str) -> int | None:
        return stats(api, "evening", first, last).json()["overview"]["uniqueImpression"]

    one, two = seen("20250701", "20250701"), seen("20250702", "20250702")
    assert one is not None and one == two
    assert seen("20250701", "20250702") > one
    assert seen("20250630", "20250630") is None


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"from": "20250701", "to": "20250701"}, "customAggregationUnit"),
        (
            {"customAggregationUnit": "a-b", "from": "20250701", "to": "20250701"},
            "customAggregationUnit",
        ),
        ({"customAggregationUnit": "u", "to": "20250701"}, "from"),
        ({"customAggregationUnit": "u", "from": "2025-07-01", "to": "20250701"}, "from"),
        ({"customAggregationUnit": "u", "from": "20250231", "to": "20250301"}, "from"),
        ({"customAggregationUnit": "u", "from": "20250701"}, "to"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(api: Api, params, bad):
    response = api.get(STATS, params=params)
    assert response.status_code == 400
    assert response.json()["message"] == f"The value for the '{bad}' parameter is invalid"


def test_a_period_backwards_or_over_30_days_is_refused(api: Api):
    assert stats(api, "u", "20250710", "20250701").status_code == 400
    assert stats(api, "u", "20250301", "20250401").status_code == 400  # 31 days later
    assert stats(api, "u", "20250301", "20250331").status_code == 200


def test_insight_needs_the_channel_token(emu: EmulatorServer):
    anonymous = Api(emu.base_url, token="wrong")
    assert anonymous.get(INFO).status_code == 401
    assert stats(anonymous, "u", "20250701", "20250701").status_code == 401
