"""The route table: one handler per key, and every event type LINE documents is either
routed or listed as ignored on purpose."""

from __future__ import annotations

import pytest

from bot.line.routing import (
    IGNORED_ON_PURPOSE,
    DuplicateRoute,
    Router,
    chat_routes,
    event_route,
    route_key,
)
from handlers import ROUTES, build_router
from tests.line_spec.schemas import event_types

# Sent only from a group or room: the chat routes (one catch-all per source) take them.
CHAT_ONLY = {"join", "leave", "memberJoined", "memberLeft"}


def _handler(event, ctx):
    return None


def _router(*extra):
    return Router.build((*ROUTES, *extra), shopper_for=_handler, on_activity=_handler)


def test_every_documented_event_type_is_routed_or_ignored_on_purpose():
    table = build_router().table
    assert ("group", None) in table and ("room", None) in table
    routed = {key[0] for key in table} | CHAT_ONLY
    assert [kind for kind in event_types() if kind not in routed | set(IGNORED_ON_PURPOSE)] == []
    assert routed & set(IGNORED_ON_PURPOSE) == set()


def test_a_second_handler_for_a_key_is_refused():
    with pytest.raises(DuplicateRoute, match="already handled by handle_follow"):
        _router(([event_route("follow")], _handler))
    with pytest.raises(DuplicateRoute, match="already handled by handle_left_chat"):
        _router((chat_routes("leave"), _handler))


def test_an_event_ignored_on_purpose_cannot_get_a_route():
    with pytest.raises(DuplicateRoute, match="ignored on purpose"):
        _router(([event_route("beacon")], _handler))


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
    router = build_router()
    message = router.find(("group", "message"))
    assert message is router.find(("room", "postback")) is router.find(("group", "join"))
    assert router.find(("group", "leave")) is not message


def test_a_key_without_its_own_route_falls_back_to_the_event_types_catch_all():
    router = build_router()
    assert router.find(("postback", "no-such-action")) is router.find(("postback", None))
    assert router.action_handler("optout") is router.find(("postback", "optout"))
    assert router.action_handler("no-such-action") is None
