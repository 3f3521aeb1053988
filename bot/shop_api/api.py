"""The shop API's building blocks: blueprint, errors, JSON bodies, the endpoint decorator."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, make_response, request
from werkzeug.exceptions import HTTPException

from bot.core.json_input import JsonInputError, parse_json_body
from bot.core.services import current_services
from bot.shop_api import auth, idempotency
from bot.shop_api.errors import ApiError, error_response

bp = Blueprint("shop_api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Paths and component schemas that feature modules add to the OpenAPI document.
OPENAPI_PATHS: dict[str, dict[str, Any]] = {}
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {}


def json_body() -> dict[str, Any]:
    """The request body as a JSON object; 400 (or 415) with a reason otherwise."""
    mimetype = request.mimetype or ""
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    try:
        data = parse_json_body(request.get_data(cache=True))
    except JsonInputError as exc:
        raise ApiError(400, "invalid_json", str(exc)) from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return cast(dict[str, Any], data)


def on_commit(callback: Callable[[], None]) -> None:
    """Run `callback` after the endpoint's transaction commits (e.g. enqueue a job)."""
    g.setdefault("shop_api_after_commit", []).append(callback)


def shop_endpoint(view: F) -> F:
    """Authenticate, apply Idempotency-Key on POST/DELETE, commit once, answer errors as JSON."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        services = current_services()
        session = services.db.session()
        try:
            body = request.get_data(cache=True)
            # remote_addr is the peer, or the client X-Forwarded-For names when PROXY_FIX_HOPS
            # says how many proxies in front of the app to trust.
            auth.authenticate(
                request,
                services.settings.shop_api_secret,
                services.redis,
                services.clock.now(),
                request.remote_addr,
            )
            key = request.headers.get(idempotency.KEY_HEADER)
            if key is not None and request.method in ("POST", "DELETE"):
                response = idempotency.run_once(
                    session,
                    key,
                    request.method,
                    request.path,
                    body,
                    services.clock.now(),
                    lambda: _as_response(view(*args, **kwargs)),
                )
            else:
                response = _as_response(view(*args, **kwargs))
            session.commit()
        except ApiError as exc:
            session.rollback()
            g.pop("shop_api_after_commit", None)
            return exc.response()
        except BaseException:
            session.rollback()
            g.pop("shop_api_after_commit", None)
            raise
        for callback in g.pop("shop_api_after_commit", []):
            try:
                callback()
            except Exception:
                log.exception("shop API after-commit callback failed")
        return response

    return cast(F, wrapper)


def _as_response(result: Any) -> Response:
    return make_response(result)


def register_openapi_paths(
    paths: dict[str, dict[str, Any]], schemas: dict[str, dict[str, Any]] | None = None
) -> None:
    """Add operations (keyed by path below /api/v1, e.g. `/events`) to the OpenAPI document."""
    for path, operations in paths.items():
        OPENAPI_PATHS.setdefault(path, {}).update(operations)
    OPENAPI_SCHEMAS.update(schemas or {})


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return exc.response()


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response | HTTPException:
    # Routing errors (404/405) never reach a blueprint handler, so this is app-wide and
    # leaves every path outside the API alone.
    if not request.path.startswith(bp.url_prefix or "/api/v1"):
        return exc
    status = exc.code or 500
    code = {413: "payload_too_large", 405: "method_not_allowed", 404: "not_found"}.get(
        status, "http_error"
    )
    response = error_response(status, code, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value  # e.g. the Allow header of a 405
    return response
