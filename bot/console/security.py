"""Console sign-in state, CSRF tokens, role checks and security headers."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from bot.core.services import current_services
from bot.models import Operator

SESSION_MAX_AGE = timedelta(hours=12)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# All an operator with a temporary password may reach until they have replaced it.
PASSWORD_CHANGE_ENDPOINTS = frozenset(
    {
        "console.change_password",
        "console.change_password_submit",
        "console.logout",
        "console.static",
    }
)

# Scripts and styles only from our own static files: shopper text that slipped through
# escaping still could not run. Images may be https (product pictures in Flex previews).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' https: data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

F = TypeVar("F", bound=Callable[..., Any])


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """Abort with 400 unless a state-changing request carries the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get("csrf")
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if (
        not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(expected.encode(), sent.encode())
    ):
        abort(
            400,
            description="フォームの有効期限が切れました。画面を再読み込みしてからやり直してください。",
        )


def start_session(operator: Operator, now: datetime) -> None:
    """Sign in: a fresh session (no value from before the login survives) and a new token."""
    session.clear()
    session["op"] = operator.id
    session["epoch"] = operator.session_epoch
    session["login_at"] = now.timestamp()
    session["csrf"] = secrets.token_urlsafe(32)


def load_operator() -> Operator | None:
    """The signed-in operator, if the session is still valid; also stored in g.operator."""
    g.operator = None
    operator_id = session.get("op")
    if not isinstance(operator_id, int):
        return None
    services = current_services()
    operator = services.db.session().get(Operator, operator_id)
    login_at = session.get("login_at")
    expired = (
        not isinstance(login_at, int | float)
        or services.clock.now().timestamp() - login_at > SESSION_MAX_AGE.total_seconds()
    )
    if (
        operator is None
        or not operator.active
        or expired
        or not hmac.compare_digest(str(session.get("epoch", "")), operator.session_epoch)
    ):
        session.clear()
        return None
    g.operator = operator
    return operator


def current_operator() -> Operator:
    """The signed-in operator (the views below `login_required` always have one)."""
    operator = g.get("operator")
    if operator is None:
        abort(401)
    return cast(Operator, operator)


def login_required(view: F) -> F:
    """Redirect to the login page when nobody is signed in."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if g.get("operator") is None:
            if request.method in SAFE_METHODS and not request.path.startswith("/console/api/"):
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            abort(401)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def admin_required(view: F) -> F:
    """Only admins; operators get 403."""

    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if not current_operator().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def enforce_password_change() -> ResponseReturnValue | None:
    """Send an operator whose password an admin reset to the password-change page."""
    operator = g.get("operator")
    if (
        operator is None
        or not operator.must_change_password
        or request.endpoint in PASSWORD_CHANGE_ENDPOINTS
    ):
        return None
    if request.method in SAFE_METHODS and not request.path.startswith("/console/api/"):
        return redirect(url_for("console.change_password"))
    abort(403, description="パスワードを変更するまで、この操作はできません。")


def safe_next(target: str | None) -> str:
    """Only redirect to console pages after login (never to another site, never a header
    broken by a control character such as CR LF)."""
    if (
        target
        and target.startswith("/console/")
        and not target.startswith("//")
        and target.isprintable()
    ):
        return target
    return url_for("console.queue_page")


def add_security_headers(response: Response) -> Response:
    """Strict CSP and friends on every console response; pages are never cached."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.path.startswith("/console/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response
