"""The shop API's building blocks: the per-app `ShopApi`, JSON bodies, the endpoint decorator.

`create_app` builds one `ShopApi` per app (a fresh blueprint and OpenAPI document: Flask
refuses new routes on a blueprint once registered, and tests build many apps); each feature's
`init_api(api)` adds its endpoints, paths and component schemas to it.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, make_response, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from bot.core.json_input import JsonInputError, parse_json_body
from bot.core.services import current_services
from bot.shop_api import auth, idempotency
from bot.shop_api.errors import ApiError, error_response

PREFIX = "/api/v1"
log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class ShopApi:
    """One app's shop API: its blueprint and the paths and schemas of its OpenAPI document."""

    def __init__(self) -> None:
        self.bp = Blueprint("shop_api", __name__, url_prefix=PREFIX)
        # Operations keyed by path below /api/v1 (e.g. `/events`), and component schemas.
        self.paths: dict[str, dict[str, Any]] = {}
        self.schemas: dict[str, dict[str, Any]] = {}
        self.bp.register_error_handler(ApiError, _api_error)
        self.bp.app_errorhandler(HTTPException)(_http_error)
        # Recorded before any feature adds a route, so `<member:...>` exists when rules are built.
        self.bp.record_once(_add_member_converter)

    def add_paths(
        self, paths: dict[str, dict[str, Any]], schemas: dict[str, dict[str, Any]] | None = None
    ) -> None:
        """Add operations (keyed by path below /api/v1) and component schemas to the document.

        Copies are kept, so one app's additions never reach another app's document.
        """
        for path, operations in copy.deepcopy(paths).items():
            self.paths.setdefault(path, {}).update(operations)
        for name, schema in copy.deepcopy(schemas or {}).items():
            if name in self.schemas and self.schemas[name] != schema:
                raise ValueError(f"two different OpenAPI schemas are named {name}")
            self.schemas[name] = schema


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
    """Authenticate, apply Idempotency-Key on POST/PUT/DELETE, commit once, answer errors as
    JSON."""

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
            if key is not None and request.method in ("POST", "PUT", "DELETE"):
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


def _add_member_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("member", MemberIdConverter)


def _api_error(exc: ApiError) -> Response:
    return exc.response()


def _http_error(exc: HTTPException) -> Response | HTTPException:
    # Routing errors (404/405) never reach a blueprint handler, so this is app-wide and
    # leaves every path outside the API alone.
    if not request.path.startswith(PREFIX):
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


class MemberIdConverter(BaseConverter):
    """`<member:name>`: the rest of the path, slashes included, even leading or doubled ones.

    Werkzeug's `path` converter refuses a leading slash, so a member id such as "/7" (valid
    printable ASCII) could not be addressed; the routes also turn off slash merging. What the
    id may contain is checked by the endpoint, with a reason.
    """

    regex = r"[\s\S]+"  # not ".": a newline must reach the endpoint's check and get its reason
    part_isolating = False
