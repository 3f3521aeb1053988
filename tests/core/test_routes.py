"""The route table: one handler per key, and every event type LINE documents is either
routed or listed as ignored on purpose."""

from __future__ import annotations

import pytest

from handlers.registry import (
    IGNORED_ON_PURPOSE,
    DuplicateRoute,
    chat_route,
    find_handler,
    route,
    route_key,
    routes,
)
from tests.line_spec.schemas import event_types

# Sent only from a group or room: the chat routes (one catch-all per source) take them.
CHAT_ONLY = {"join", "leave", "memberJoined", "memberLeft"}


def test_every_documented_event_type_is_routed_or_ignored_on_purpose():
    table = routes()
    assert ("group", None) in table and ("room", None) in table
    routed = {key[0] for key in table} | CHAT_ONLY
    assert [kind for kind in event_types() if kind not in routed | set(IGNORED_ON_PURPOSE)] == []
    assert routed & set(IGNORED_ON_PURPOSE) == set()


def test_a_second_handler_for_a_key_is_refused():
    with pytest.raises(DuplicateRoute):
        route("follow")(lambda event, ctx: None)
    with pytest.raises(DuplicateRoute):
        chat_route("leave")(lambda event, ctx: None)


def test_an_event_ignored_on_purpose_cannot_get_a_route():
    with pytest.raises(DuplicateRoute, match="ignored on purpose"):
        route("beacon")(lambda event, ctx: None)


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (
            {"type": "message", "source": {"type": "group"}, "message": {"type": "text"}},
            ("group", "message"),
        ),
        ({"type": "join", "source": {"type": "room"}}, ("room", "join")),
        (
            {"type": "message", "source": {"type": "user"}, "message": {"type": "sticker"}},
            ("message", "sticker"),
        ),
        ({"type": "postback", "postback": {"data": "action=optout&x=1"}}, ("postback", "optout")),
        ({"type": "message", "message": "not an object"}, ("message", "")),
    ],
)
def test_route_keys(event, key):
    assert route_key(event) == key


def test_group_events_share_one_handler_and_leave_has_its_own():
    message = find_handler(("group", "message"))
    assert message is find_handler(("room", "postback")) is find_handler(("group", "join"))
    assert find_handler(("group", "leave")) is not message
