"""Development only: a stand-in for the shop's login page in the account-link flow.

`make run` points SHOP_LINK_URL here. The "shopper" types a member id; the page does what a
shop's real login page does after a successful login (create a nonce for the link token) and
sends the browser to the LINE emulator's account-link page, which fires the accountLink webhook.
Never registered outside APP_ENV=development.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template_string, request
from flask.typing import ResponseReturnValue

from bot.core.services import current_services
from bot.linking import service as linking

bp = Blueprint("dev_shop", __name__, url_prefix="/dev")

PAGE = """<!doctype html>
<html lang="ja"><meta charset="utf-8"><title>サンプルストア ログイン(開発用)</title>
<body style="font-family: sans-serif; max-width: 30rem; margin: 3rem auto">
<h1>サンプルストア ログイン</h1>
<p>開発用のログイン画面です。会員番号を入力すると LINE 連携が完了します。</p>
{% if error %}<p style="color: #b00">{{ error }}</p>{% endif %}
<form method="post">
  <input type="hidden" name="linkToken" value="{{ link_token }}">
  <label>会員番号 <input name="member_id" value="M0001" required maxlength="128"></label>
  <button type="submit">ログインして連携する</button>
</form>
</body></html>"""


@bp.route("/shop-login", methods=["GET", "POST"])
def shop_login() -> ResponseReturnValue:
    """GET shows the form; POST creates the nonce and redirects to LINE (the emulator)."""
    link_token = request.values.get("linkToken", "")
    if request.method == "GET":
        return render_template_string(PAGE, link_token=link_token, error=None)
    services = current_services()
    session = services.db.session()
    member_id = request.form.get("member_id", "")
    if not linking.is_member_id(member_id):
        error = "会員番号が不正です。"
        return render_template_string(PAGE, link_token=link_token, error=error), 400
    try:
        nonce = linking.create_nonce(session, member_id, link_token, services.clock.now())
    except linking.LinkError as exc:
        session.rollback()
        return render_template_string(PAGE, link_token=link_token, error=str(exc)), 400
    session.commit()
    query = urlencode({"linkToken": link_token, "nonce": nonce.nonce})
    return redirect(
        f"{services.settings.line_api_base_url}/dialog/bot/accountLink?{query}", code=303
    )
