"""Console sign-in pages: signing in and out, and an operator changing their own password."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from bot.console import operators as ops
from bot.console import web
from bot.console.security import current_operator, login_required, safe_next, start_session

log = logging.getLogger(__name__)


def register(bp: Blueprint) -> None:
    """Add the sign-in routes to the console blueprint (endpoints are the function names)."""
    bp.get("/login")(login)
    bp.post("/login")(login_submit)
    bp.post("/logout")(logout)
    bp.get("/password")(change_password)
    bp.post("/password")(change_password_submit)


def login() -> ResponseReturnValue:
    if g.get("operator") is not None:
        return redirect(url_for("console.queue_page"))
    return render_template("console/login.html", next=request.args.get("next", ""))


def login_submit() -> ResponseReturnValue:
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    next_url = request.form.get("next", "")
    session_db = web.db_session()
    result = ops.authenticate(
        session_db,
        email,
        password,
        request.remote_addr or "-",
        web.now(),
        hash_method=web.password_hash_method(),
    )
    session_db.commit()
    if result.locked:
        error, status = (
            "ログインの失敗が続いたため、しばらくログインできません。15分ほどしてからお試しください。",
            429,
        )
    elif result.operator is None:
        error, status = "メールアドレスまたはパスワードが違います。", 401
    else:
        start_session(result.operator, web.now())
        log.info("operator signed in", extra={"operator": result.operator.id})
        if result.operator.must_change_password:
            return redirect(url_for("console.change_password"), code=303)
        return redirect(safe_next(next_url), code=303)
    page = render_template("console/login.html", next=next_url, email=email, error=error)
    return page, status


@login_required
def logout() -> ResponseReturnValue:
    operator = current_operator()
    ops.end_sessions(operator)
    web.db_session().commit()
    session.clear()
    flash("ログアウトしました。", "info")
    return redirect(url_for("console.login"), code=303)


@login_required
def change_password() -> ResponseReturnValue:
    return render_template("console/password.html")


@login_required
def change_password_submit() -> ResponseReturnValue:
    operator = current_operator()
    form = request.form
    db = web.db_session()
    try:
        ops.change_password(
            db,
            operator,
            form.get("current_password", ""),
            form.get("new_password", ""),
            form.get("new_password_again", ""),
            request.remote_addr or "-",
            web.now(),
            hash_method=web.password_hash_method(),
        )
    except ops.OperatorError as exc:
        db.commit()  # keeps a failed check of the current password for the lockout
        status = 429 if isinstance(exc, ops.AccountLocked) else 400
        return render_template("console/password.html", error=str(exc)), status
    db.commit()
    # The change ended every session; this browser gets a fresh one and stays signed in.
    start_session(operator, web.now())
    log.info("operator changed password", extra={"operator": operator.id})
    flash("パスワードを変更しました。ほかの端末やブラウザのログインは終了しました。", "info")
    return redirect(url_for("console.queue_page"), code=303)
