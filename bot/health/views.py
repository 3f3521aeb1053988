"""Liveness and metrics endpoints."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, jsonify, request

from bot.core.metrics import render_metrics
from bot.core.services import current_services
from bot.core.settings import Settings
from bot.health.liveness import LivenessCollector, health_report

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database and Redis answer, the dispatcher ran lately and no delivery is
    late past its threshold; 503 naming the failing part otherwise."""
    healthy, report = health_report(current_services())
    return jsonify(status="ok" if healthy else "error", **report), 200 if healthy else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition; needs `Authorization: Bearer <METRICS_TOKEN>` when one is set."""
    refusal = _metrics_refusal(current_services().settings)
    if refusal is not None:
        return refusal
    body, content_type = render_metrics(LivenessCollector())
    return Response(body, content_type=content_type)


def _metrics_refusal(settings: Settings) -> Response | None:
    """None if the request may read /metrics, else the answer to give.

    With METRICS_TOKEN set, the bearer token must match (compared in constant time). Without
    one, development and tests stay open and production answers 404: the metrics name queues,
    jobs and LINE error rates, which are nobody's business but the operator's.
    """
    token = settings.metrics_token
    if token is None:
        if not settings.is_production:
            return None
        return Response("metrics are disabled: set METRICS_TOKEN\n", 404, mimetype="text/plain")
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        sent.strip().encode("utf-8"), token.encode("utf-8")
    ):
        return None
    return Response(
        "a valid bearer token is required\n",
        401,
        mimetype="text/plain",
        headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
    )
