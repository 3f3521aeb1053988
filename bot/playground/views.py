"""The playground's page and its small JSON endpoints (under /dev/playground).

Dev tools, yet strict: bad input gets 4xx with a reason, never 500; every POST must come
from the playground's own page (same Origin, JSON body), so another site cannot drive it.
The page runs under `script-src 'self'; style-src 'self'`: its script and styles are static
files, and the rendered messages' free values come from `flex-values.css`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html import escape
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError

from bot.core.clock import DevClock
from bot.core.services import Services, current_services
from bot.delivery.jobs import dispatch_due_deliveries
from bot.linking.service import is_member_id
from bot.playground import shop
from bot.playground.account_link import AccountLinkError, log_in_and_link
from bot.playground.emulator import FAULTS, Emulator, EmulatorRefused, EmulatorUnavailable
from bot.playground.timeline import shopper_timeline
from flex_templates.html import RenderedHtml, render_message, render_quick_replies
from flex_templates.html_styles import value_stylesheet

bp = Blueprint(
    "playground",
    __name__,
    url_prefix="/dev/playground",
    template_folder="templates",
    static_folder="static",
)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
USER_ID = re.compile(r"^U[0-9a-f]{32}$")
# The time-travel buttons: 15 minutes, 1 day, 3 days, 30 days.
TRAVEL_SECONDS = (15 * 60, 24 * 3600, 3 * 24 * 3600, 30 * 24 * 3600)
LINE_EVENTS = ("follow", "unfollow", "text", "postback")


class BadInput(Exception):
    """A 4xx answer with a reason for the page."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@bp.errorhandler(BadInput)
def _bad_input(exc: BadInput) -> ResponseReturnValue:
    return jsonify(error=str(exc)), exc.status


@bp.errorhandler(EmulatorUnavailable)
def _no_emulator(exc: EmulatorUnavailable) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 502


@bp.errorhandler(EmulatorRefused)
def _emulator_refused(exc: EmulatorRefused) -> ResponseReturnValue:
    return jsonify(error=f"LINE emulator: {exc.message}"), 400 if exc.status < 500 else 502


@bp.errorhandler(AccountLinkError)
def _link_refused(exc: AccountLinkError) -> ResponseReturnValue:
    return jsonify(error=str(exc), steps=exc.steps), exc.status


@bp.errorhandler(RedisError)
def _no_redis(_exc: RedisError) -> ResponseReturnValue:
    return jsonify(error="Redis is unavailable"), 503


@bp.before_request
def _same_origin_only() -> None:
    """Refuse POSTs from other sites: the Origin must be ours and the body JSON."""
    if request.method != "POST":
        return
    origin = request.headers.get("Origin")
    own = f"{request.scheme}://{request.host}"
    if origin != own:
        abort(Response('{"error": "cross-site request refused"}', 403, mimetype="application/json"))
    if not request.is_json:
        abort(Response('{"error": "send JSON"}', 415, mimetype="application/json"))


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "playground.static":
        response.headers["Cache-Control"] = "no-store"
    return response


# -- input helpers ---------------------------------------------------------------------------


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body


def _user_id(value: object) -> str:
    if not isinstance(value, str) or not USER_ID.match(value):
        raise BadInput("userId must be U followed by 32 lowercase hex digits")
    return value


def _string(body: dict[str, Any], key: str, max_len: int, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadInput(f"{key} is required")
        return None
    if not isinstance(value, str) or len(value) > max_len or "\x00" in value:
        raise BadInput(f"{key} must be text of at most {max_len} characters")
    if not value.strip():
        raise BadInput(f"{key} must not be blank")
    return value


def _whole(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInput(f"{key} must be a whole number from {low} to {high}")
    return value


def _sku(body: dict[str, Any]) -> str:
    sku = body.get("sku")
    if not isinstance(sku, str) or sku not in shop.CATALOGUE:
        raise BadInput(f"sku must be one of {', '.join(shop.CATALOGUE)}")
    return sku


def _emulator(services: Services) -> Emulator:
    return Emulator(services.settings.line_api_base_url)


def _answer(answer: shop.ApiAnswer | None, missing: str) -> ResponseReturnValue:
    """The shop API's answer, passed on; its 5xx become 502 (this endpoint did its part)."""
    if answer is None:
        raise BadInput(missing, 409)
    if answer.status < 300:
        _dispatch_now(current_services())  # a 0s step (thanks, shipping) goes out at once
    status = answer.status if answer.status < 500 else 502
    return jsonify(status=answer.status, body=answer.body), status


# -- page and stylesheet ---------------------------------------------------------------------


@bp.get("/")
def page() -> ResponseReturnValue:
    """The playground page (everything else is fetched by its script)."""
    services = current_services()
    return render_template("playground/index.html", shop_name=services.settings.shop_name)


@bp.get("/flex-values.css")
def flex_values() -> Response:
    """CSS for the value classes named in `c` (dot-separated), from their names alone."""
    names = request.args.get("c", "")[:16000].split(".")
    css = value_stylesheet(f"fv-{name}" for name in names if name)
    return Response(css, mimetype="text/css", headers={"Cache-Control": "public, max-age=86400"})


@bp.get("/flex.css")
def flex_css() -> Response:
    """The renderer's fixed stylesheet."""
    from flex_templates.html import base_stylesheet

    return Response(base_stylesheet(), mimetype="text/css")


# -- state -----------------------------------------------------------------------------------


@bp.get("/api/state")
def state() -> ResponseReturnValue:
    """Shoppers, the clock, the catalogue, fault switches; with `user`, their shop state."""
    services = current_services()
    emulator = _emulator(services)
    clock = services.clock
    offset = clock.offset() if isinstance(clock, DevClock) else timedelta(0)
    result: dict[str, Any] = {
        "shoppers": emulator.users(),
        "now": clock.now().astimezone(services.settings.tz).isoformat(timespec="minutes"),
        "offsetSeconds": offset.total_seconds(),
        "timeTravel": isinstance(clock, DevClock),
        "catalogue": shop.catalogue(services),
        "faults": emulator.faults(),
    }
    user = request.args.get("user")
    if user:
        user = _user_id(user)
        result["member"] = shop.member_id(services, user)
        result["cart"] = shop.cart(services, user)
        result["order"] = shop.last_order(services, user)
        result["timeline"] = shopper_timeline(services, user)
    return jsonify(result)


@bp.get("/api/chat")
def chat() -> ResponseReturnValue:
    """The conversation, rendered: the shopper's events and the bot's messages in time order,
    plus the quick replies of the bot's last message."""
    services = current_services()
    user = _user_id(request.args.get("user"))
    emulator = _emulator(services)
    entries: list[tuple[float, str]] = []
    messages = []
    pictures = _catalogue_pictures(services)
    for entry in emulator.inbox(user):
        message = entry.get("message")
        if isinstance(message, dict):
            messages.append(message)
            markup = render_message(message, image_src=pictures)
            entries.append((float(entry.get("time") or 0), markup))
    for sent in emulator.webhooks():
        for event in sent.get("events") or []:
            if (event.get("source") or {}).get("userId") == user:
                entries.append((float(sent.get("time") or 0), _shopper_line(services, event)))
    entries.sort(key=lambda pair: pair[0])
    markup = RenderedHtml("".join(html for _, html in entries))
    return jsonify(
        count=len(entries),
        html=markup.html,
        quick=render_quick_replies(messages[-1]) if messages else "",
        values=".".join(c[3:] for c in markup.value_classes),
    )


SHOWN_KEY = "playground:shown:"  # what a postback showed in the chat (LINE's displayText)


def _shopper_line(services: Services, event: dict[str, Any]) -> str:
    """The shopper's side of the chat: what they typed or tapped, and friend changes."""
    kind = event.get("type")
    if kind == "message":
        text = (event.get("message") or {}).get("text") or "(メッセージ)"
        return f'<div class="mine">{escape(text)}</div>'
    if kind == "postback":
        shown = services.redis.get(SHOWN_KEY + str(event.get("webhookEventId")))
        if shown:
            return f'<div class="mine">{escape(shown.decode("utf-8"))}</div>'
        data = (event.get("postback") or {}).get("data", "")
        return f'<div class="sys">postback: {escape(data)}</div>'
    notes = {"follow": "友だち追加しました", "unfollow": "ブロックしました"}
    note = notes.get(str(kind), str(kind))
    if kind == "accountLink":
        ok = (event.get("link") or {}).get("result") == "ok"
        note = "LINEでアカウント連携しました" if ok else "アカウント連携に失敗しました"
    return f'<div class="sys">{escape(note)}</div>'


def _catalogue_pictures(services: Services) -> Any:
    """Images of the sample catalogue are drawn locally; any other image is a placeholder."""
    from flask import url_for

    known = {
        shop.image_url(services, item): url_for(
            "playground.static", filename=f"items/{item.picture}"
        )
        for item in shop.CATALOGUE.values()
    }
    return known.get


# -- the shopper (LINE side) -----------------------------------------------------------------


@bp.post("/api/shoppers")
def create_shopper() -> ResponseReturnValue:
    """Register a shopper in the emulator and have them add the account as a friend."""
    body = _body()
    name = _string(body, "displayName", 20)
    user = body.get("userId") or None
    if user is not None:
        user = _user_id(user)
    emulator = _emulator(_services())
    profile = emulator.add_user(user, name or "")
    result = emulator.event("follow", {"userId": profile["userId"]})
    return jsonify(profile=profile, webhook=result), 201


@bp.post("/api/line/<kind>")
def line_event(kind: str) -> ResponseReturnValue:
    """Send the bot a shopper's event through the emulator (a real signed webhook)."""
    if kind not in LINE_EVENTS:
        raise BadInput(f"unknown event {kind!r}", 404)
    body = _body()
    event: dict[str, Any] = {"userId": _user_id(body.get("userId"))}
    if kind == "text":
        event["text"] = _string(body, "text", 5000)
    elif kind == "postback":
        event["data"] = _string(body, "data", 300)
        params = body.get("params")
        if params is not None:
            if not isinstance(params, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and len(v) <= 100
                for k, v in params.items()
            ):
                raise BadInput("params must be an object of short strings")
            event["params"] = params
    services = _services()
    result = _emulator(services).event(kind, event)
    shown = _string(body, "displayText", 300, required=False) if kind == "postback" else None
    if shown and result.get("webhookEventId"):
        services.redis.set(SHOWN_KEY + result["webhookEventId"], shown, ex=7 * 24 * 3600)
    return jsonify(webhook=result)


@bp.get("/api/where")
def where() -> ResponseReturnValue:
    """Where a URI button leads; a tracked link of this bot is followed one hop to its target."""
    url = request.args.get("url", "")
    if not url or len(url) > 2000:
        raise BadInput("url is required (at most 2000 characters)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "line", "tel"):
        raise BadInput("only http(s), line: and tel: links open")
    services = _services()
    base = urlsplit(services.settings.public_base_url)
    target = None
    if parts.scheme in ("http", "https") and parts.netloc == base.netloc:
        # Our own tracking redirect: ask it (as the shopper's tap would, so it counts a click).
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = current_app.test_client().get(path)
        target = response.headers.get("Location")
        response.close()
    return jsonify(url=url, target=target)


# -- the shop --------------------------------------------------------------------------------


@bp.post("/api/shop/<action>")
def shop_action(action: str) -> ResponseReturnValue:
    """One button of the shop panel: a real signed shop-API request."""
    services = _services()
    body = _body()
    if action == "stock":
        return _answer(shop.change_stock(services, _sku(body), _whole(body, "stock", 0, 9999)), "")
    if action == "restock":
        return _answer(shop.restock(services, _sku(body)), "")
    user = _user_id(body.get("userId"))
    if action == "link":
        return _answer(shop.link_member(services, user, _member_id(body)), "")
    if action == "cart":
        quantity = _whole(body, "quantity", 1, shop.MAX_QUANTITY) if "quantity" in body else 1
        return _answer(shop.add_to_cart(services, user, _sku(body), quantity), "")
    if action == "clear":
        return _answer(shop.clear_cart(services, user), "")
    if action == "order":
        return _answer(shop.place_order(services, user), "the cart is empty")
    if action in ("ship", "deliver"):
        stage = "shipped" if action == "ship" else "delivered"
        return _answer(shop.advance_order(services, user, stage), "no order to " + action)
    raise BadInput(f"unknown shop action {action!r}", 404)


@bp.post("/api/account-link")
def account_link() -> ResponseReturnValue:
    """The account-link flow's second half: the shopper opens the login link the bot sent,
    logs in at the shop as `memberId`, and LINE sends the bot the accountLink event."""
    services = _services()
    body = _body()
    user, member = _user_id(body.get("userId")), _member_id(body)
    flow = log_in_and_link(services, _emulator(services), user, member)
    return jsonify(linkToken=flow.link_token, nonce=flow.nonce, steps=flow.steps)


def _member_id(body: dict[str, Any]) -> str:
    member = body.get("memberId")
    if not is_member_id(member):
        raise BadInput("memberId must be 1-128 printable ASCII characters without spaces")
    return str(member)


# -- time and faults -------------------------------------------------------------------------


@bp.post("/api/clock")
def travel() -> ResponseReturnValue:
    """Move the shared dev clock forward and run the dispatcher at once."""
    services = _services()
    clock = services.clock
    if not isinstance(clock, DevClock):
        raise BadInput("time travel needs the dev clock (never in production)", 409)
    seconds = _whole(_body(), "seconds", 1, max(TRAVEL_SECONDS))
    if seconds not in TRAVEL_SECONDS:
        raise BadInput("seconds must be one of " + ", ".join(map(str, TRAVEL_SECONDS)))
    try:
        offset = clock.advance(seconds)
    except ValueError as exc:
        raise BadInput(str(exc), 409) from None
    _dispatch_now(services)
    return jsonify(offsetSeconds=offset.total_seconds(), now=clock.now().isoformat())


@bp.post("/api/faults")
def faults() -> ResponseReturnValue:
    """Switch the emulator's injected faults (5xx, 429, slow) on the message endpoints."""
    body = _body()
    switches = {}
    for name in FAULTS:
        value = body.get(name, False)
        if not isinstance(value, bool):
            raise BadInput(f"{name} must be true or false")
        switches[name] = value
    return jsonify(faults=_emulator(_services()).set_faults(switches))


def _dispatch_now(services: Services) -> None:
    """Due deliveries go out now rather than at the scheduler's next tick."""
    services.queues.named("dispatch")[0].enqueue(dispatch_due_deliveries, result_ttl=0)


def _services() -> Services:
    return current_services()
