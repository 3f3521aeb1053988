"""Every rich menu request the bot sends is one LINE's OpenAPI file documents, with a body
that validates against its schema (the vendored `tests/line_spec/messaging-api.yml`)."""

from __future__ import annotations

import re

from flask import Flask

from line_emulator.server import EmulatorServer
from tests.helpers.delivery import add_shopper
from tests.helpers.richmenu import SAMPLE_FILE
from tests.line_spec.schemas import spec, violations

API = "messaging-api"
BODY_SCHEMAS = {
    ("POST", "/v2/bot/richmenu"): "RichMenuRequest",
    ("POST", "/v2/bot/richmenu/alias"): "CreateRichMenuAliasRequest",
    ("POST", "/v2/bot/richmenu/alias/{richMenuAliasId}"): "UpdateRichMenuAliasRequest",
    ("POST", "/v2/bot/richmenu/bulk/link"): "RichMenuBulkLinkRequest",
}


def documented(method: str, path: str) -> str | None:
    """The spec's path template for a concrete request, if LINE documents it."""
    paths = spec(API)["paths"]
    if method.lower() in paths.get(path, {}):
        return path  # a fixed path (…/alias/list) wins over a template that matches it too
    for template, operations in paths.items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return str(template)
    return None


def test_apply_and_reapply_send_only_documented_requests(
    e2e_app: Flask, emulator: EmulatorServer
) -> None:
    add_shopper(e2e_app, line_user_id="U" + "1" * 32, member_id="M1")
    runner = e2e_app.test_cli_runner()
    assert runner.invoke(args=["richmenu", "apply", str(SAMPLE_FILE)]).exit_code == 0
    assert runner.invoke(args=["richmenu", "apply", "--force", str(SAMPLE_FILE)]).exit_code == 0
    checked = set()
    for record in emulator.requests():
        template = documented(record["method"], record["path"])
        assert template is not None, (record["method"], record["path"])
        schema = BODY_SCHEMAS.get((record["method"], template))
        if schema is not None:
            assert violations(API, schema, record["body"]) == [], record["body"]
            checked.add(schema)
    assert checked == set(BODY_SCHEMAS.values())
