"""Liveness and metrics endpoints."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from bot.extensions import services
from bot.metrics import render_metrics

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database and Redis answer, 503 (naming the failing part) otherwise."""
    svc = services()
    checks: dict[str, str] = {}
    try:
        svc.db.session().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy; say which part
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        svc.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "error", checks=checks), 200 if healthy else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition."""
    body, content_type = render_metrics()
    return Response(body, content_type=content_type)
