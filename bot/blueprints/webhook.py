"""POST /callback: verify, de-duplicate, persist, enqueue, answer 200. No LINE calls here."""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Response, jsonify

from bot.extensions import services
from bot.metrics import ACK_SECONDS, WEBHOOK_REQUESTS
from bot.services.webhook_events import (
    MalformedWebhook,
    parse_events,
    valid_signature,
)

bp = Blueprint("webhook", __name__)
log = logging.getLogger(__name__)


def _bad_request(reason: str) -> tuple[Response, int]:
    WEBHOOK_REQUESTS.labels("400").inc()
    return jsonify(error={"code": "bad_request", "message": reason}), 400


@bp.post("/callback")
def callback() -> tuple[Response, int] | Response:
    """Receive LINE webhooks; the handling runs on the RQ worker."""
    from flask import request

    started = time.perf_counter()
    svc = services()
    body = request.get_data(cache=False)
    if not valid_signature(
        svc.settings.line_channel_secret, body, request.headers.get("X-Line-Signature")
    ):
        log.warning("webhook signature missing or invalid")
        return _bad_request("X-Line-Signature is missing or invalid")
    try:
        events = parse_events(json.loads(body))
    except (ValueError, MalformedWebhook) as exc:
        return _bad_request(f"malformed webhook body: {exc}")

    if events:  # an empty list is LINE's verification request
        new_ids = svc.event_writer.store(events)
        log.debug("webhook stored", extra={"events": len(events), "new": len(new_ids)})
    WEBHOOK_REQUESTS.labels("200").inc()
    ACK_SECONDS.observe(time.perf_counter() - started)
    return jsonify(status="ok")
