"""The test LINE channel: its secret and token, a shopper, webhook fixtures signed for real."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from bot.line.webhook_events import sign_body

TEST_SECRET = "test-channel-secret"
TEST_TOKEN = "test-channel-access-token"
SHOPPER_ID = "U" + "1" * 32
WEBHOOK_FIXTURES = Path(__file__).resolve().parents[1] / "webhooks"


def load_webhook(name: str, **overrides: Any) -> dict[str, Any]:
    """One fixture event from tests/webhooks/<name>.json, with fields replaced."""
    event = json.loads((WEBHOOK_FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    event.update(overrides)
    return event


def strings(node: Any) -> list[str]:
    """Every string value in a message (texts, labels, postback data), depth first."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []


def signed_post(
    client: FlaskClient, events: list[dict[str, Any]], secret: str = TEST_SECRET
) -> Any:
    """POST a webhook body signed for real with the channel secret."""
    body = json.dumps({"destination": "Uxxxxxxxx", "events": events}, ensure_ascii=False).encode()
    return client.post(
        "/callback",
        data=body,
        headers={"X-Line-Signature": sign_body(secret, body), "Content-Type": "application/json"},
    )


_event_counter = iter(range(1, 10_000))


def _event_id() -> str:
    return f"01JTEST{next(_event_counter):019d}"


def send(client: FlaskClient, run_jobs: Callable[[], int], name: str, **overrides: Any) -> None:
    """Post one fixture event (with a fresh event id) and run the jobs it queues."""
    event = load_webhook(name, webhookEventId=_event_id(), **overrides)
    assert signed_post(client, [event]).status_code == 200
    run_jobs()


def typed(client: FlaskClient, run_jobs: Callable[[], int], body: str, user: str = SHOPPER_ID):
    """The user types `body` to the bot (a signed text message event), and the jobs run."""
    message = {"id": "5000000009", "type": "text", "text": body, "quoteToken": "q-9"}
    source = {"type": "user", "userId": user}
    send(client, run_jobs, "message__text", message=message, source=source)
