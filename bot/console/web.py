"""What every console request shares: the blueprint's hooks (parameter checks, sign-in and CSRF,
security headers, template globals, error pages) and small helpers for the views."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, abort, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from bot.console import operators as ops
from bot.console.security import (
    add_security_headers,
    check_csrf,
    csrf_token,
    enforce_password_change,
    load_operator,
)
from bot.core.services import current_services

MAX_ROW_ID = 2**31 - 1  # ids are PostgreSQL integers: a larger one fails the query itself

T = TypeVar("T")


def install_hooks(bp: Blueprint) -> None:
    """Attach the request hooks, template globals and error pages to the console blueprint."""
    bp.before_request(_check_parameters)  # first: nothing below should see such a value
    bp.before_request(_check_session)
    bp.after_request(_add_headers)
    bp.context_processor(_template_globals)
    bp.register_error_handler(HTTPException, _http_error)


def _check_parameters() -> None:
    """Refuse, with a reason, values no query can take: before they reach the database."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not 0 <= value <= MAX_ROW_ID:
            abort(404, description="指定されたデータは見つかりません。")
    # PostgreSQL text cannot hold NUL; no field of the console has a use for one.
    for values in (request.args, request.form):
        if any("\x00" in value for value in values.values()):
            abort(400, description="入力に使用できない文字（NUL）が含まれています。")


def _check_session() -> ResponseReturnValue | None:
    """Load the signed-in operator, check the CSRF token, hold back a forced password change."""
    load_operator()
    check_csrf()
    return enforce_password_change()


def _add_headers(response: Response) -> Response:
    return add_security_headers(response)


def _template_globals() -> dict[str, Any]:
    return {
        "operator": g.get("operator"),
        "csrf_token": csrf_token,
        "shop_name": current_services().settings.shop_name,
        "min_password_length": ops.MIN_PASSWORD_LENGTH,
    }


def _http_error(error: HTTPException) -> ResponseReturnValue:
    messages = {
        400: "リクエストが正しくありません。",
        401: "ログインしてください。",
        403: "この操作を行う権限がありません。",
        404: "ページが見つかりません。",
        405: "この操作はできません。",
        409: "状態が変わりました。画面を更新してください。",
        413: "送信内容が大きすぎます。",
    }
    code = error.code or 500
    description = error.description if _is_japanese(error.description) else None
    message = description or messages.get(code, "エラーが発生しました。")
    if request.path.startswith("/console/api/") or request.accept_mimetypes.best == (
        "application/json"
    ):
        return jsonify({"error": message}), code
    return render_template("console/error.html", code=code, message=message), code


def _is_japanese(text: str | None) -> bool:
    return bool(text) and any("\u3040" <= ch <= "\u9fff" for ch in text or "")


def db_session() -> Session:
    """The request's database session."""
    return current_services().db.session()


def now() -> datetime:
    """The current time from the app's clock (aware UTC)."""
    return current_services().clock.now()


def row_id(raw: str, invalid: str) -> int:
    """A non-negative id from a query or form value (negative counts as 0); 400 otherwise."""
    try:
        value = max(0, int(raw))
    except ValueError:
        abort(400, description=invalid)
    if value > MAX_ROW_ID:
        abort(400, description=invalid)
    return value


def get_or_404(model: type[T], ident: int, missing: str) -> T:
    """The row, or a 404 page saying (in Japanese) what could not be found."""
    row = db_session().get(model, ident)
    if row is None:
        abort(404, description=missing)
    return row


def password_hash_method() -> str:
    """werkzeug's method for new operator password hashes, from the settings (scrypt)."""
    return current_services().settings.password_hash_method
