"""Each app gets its own shop API: routes, OpenAPI document and member hooks."""

from __future__ import annotations

from flask import Flask
from redis import Redis

from bot.app import create_app
from bot.consents.api import erase_with_member as erase_consents
from bot.core.db import Database
from bot.core.settings import Settings
from bot.delivery.engine import erase_customer
from bot.delivery.staff_sends import erase_member_traces
from bot.line.gateway import InMemoryLineGateway
from bot.linking.attributes import erase_attributes
from bot.linking.members_api import HOOKS_KEY


def test_apps_built_in_one_process_share_nothing(
    app: Flask, settings: Settings, db: Database, redis: Redis, line: InMemoryLineGateway
) -> None:
    others = [create_app(settings, line=line, redis=redis, database=db) for _ in range(2)]
    hooks = [a.extensions[HOOKS_KEY] for a in (app, *others)]
    assert len({id(h) for h in hooks}) == 3
    # The features' erasers are added once per app, not once more per app built.
    erasers = [erase_attributes, erase_customer, erase_member_traces, erase_consents]
    assert all(h.erasers == erasers and len(h.extras) == 1 for h in hooks)
    assert all(len(h.fields) == len(h.known) == 1 for h in hooks)
    documents = [a.test_client().get("/api/v1/openapi.json").json for a in (app, *others)]
    assert documents[0] == documents[1] == documents[2]
    assert "deliveries" in documents[2]["components"]["schemas"]["Member"]["properties"]
    rules = [sorted(str(r) for r in a.url_map.iter_rules() if "/api/v1" in str(r)) for a in others]
    assert rules[0] == rules[1] and "/api/v1/events" in rules[0]
