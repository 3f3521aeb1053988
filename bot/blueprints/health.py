"""Liveness and metrics endpoints."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from bot.extensions import services
from bot.metrics import render_metrics
from bot.services.liveness import health_report

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database and Redis answer, the dispatcher ran lately and no delivery is
    late past its threshold; 503 naming the failing part otherwise."""
    healthy, report = health_report(services())
    return jsonify(status="ok" if healthy else "error", **report), 200 if healthy else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition."""
    body, content_type = render_metrics()
    return Response(body, content_type=content_type)
