"""GET /r/<token> and /r/s/<token> (SMS): record a tap on a message link, then redirect with
UTM parameters."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, redirect
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.services import current_services
from bot.delivery.engine import record_click
from bot.delivery.tracking import InvalidLink, add_utm, verify_link, verify_short
from bot.models import Cart, Delivery, Flow, Order, TrackedLink
from line_messages.links import host_allowed

bp = Blueprint("tracking", __name__)
log = logging.getLogger(__name__)

NOT_FOUND_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>リンクが見つかりません</title></head>
<body style="font-family: sans-serif; margin: 2em; line-height: 1.6">
<h1 style="font-size: 1.2em">このリンクは無効か、有効期限が切れています</h1>
<p>お手数ですが、ショップのページから直接お探しください。</p>
</body></html>
"""


def _stored_target(session: Session, key: str | None) -> str:
    """The target kept for a token that carries only its key (the URL was too long)."""
    link = session.get(TrackedLink, key) if key else None
    if link is None:
        raise InvalidLink("stored target not found")
    return link.url


@bp.get("/r/<path:token>")
def follow_link(token: str) -> Response:
    """Verify the token; a forged, altered or expired one gets a 404 page, never a redirect."""
    services = current_services()
    now = services.clock.now()
    session = services.db.session()
    try:
        claims = verify_link(services.settings.secret_key.encode(), token, now)
        url = claims.url if claims.url is not None else _stored_target(session, claims.link_key)
        if not host_allowed(url, services.settings.allowed_link_hosts):
            # Signed by us, but LINK_HOSTS no longer lists its host (or never did: a token
            # made before hosts were checked): never an open redirect.
            raise InvalidLink("target host is not one of the shop's")
    except InvalidLink as exc:
        log.info("tracking link refused", extra={"reason": str(exc)})
        return Response(NOT_FOUND_PAGE, status=404, mimetype="text/html")
    try:
        record_click(
            session,
            delivery_id=claims.delivery_id,
            shopper_id=claims.shopper_id,
            campaign=claims.campaign,
            content=claims.content,
            url=url,
            now=now,
        )
        session.commit()
    except Exception:
        # The shopper still gets where they wanted to go; a lost click is only a lost stat.
        session.rollback()
        log.exception("click not recorded", extra={"delivery_id": claims.delivery_id})
    source = _channel(session, claims.delivery_id)
    return _redirect(add_utm(url, claims.campaign, claims.content, source))


def _channel(session: Session, delivery_id: int | None) -> str:
    """The channel the tapped message went by (UTM source): line, email or sms."""
    delivery = session.get(Delivery, delivery_id) if delivery_id is not None else None
    return delivery.channel if delivery is not None else "line"


def _redirect(url: str) -> Response:
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _subject_url(session: Session, delivery: Delivery) -> str | None:
    """Where an SMS's one link leads: the flow's cart, order or item, as the shop sent it."""
    flow = session.get(Flow, delivery.flow_id)
    context = (flow.context or {}) if flow is not None else {}
    if "cart_id" in context:
        cart = session.scalars(select(Cart).where(Cart.cart_id == context["cart_id"])).first()
        return (cart.data or {}).get("url") if cart is not None else None
    if "order_id" in context:
        order = session.scalars(select(Order).where(Order.order_id == context["order_id"])).first()
        return (order.data or {}).get("url") if order is not None else None
    if "item" in context:
        return dict(context["item"]).get("url")
    return None


@bp.get("/r/s/<token>")
def follow_short_link(token: str) -> Response:
    """An SMS's short link: the token names the delivery; the target is its subject."""
    services = current_services()
    now = services.clock.now()
    session = services.db.session()
    try:
        delivery_id = verify_short(services.settings.secret_key.encode(), token)
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise InvalidLink("delivery not found")
        url = _subject_url(session, delivery)
        if not url or not host_allowed(url, services.settings.allowed_link_hosts):
            raise InvalidLink("no target on the shop's hosts")
    except InvalidLink as exc:
        log.info("short link refused", extra={"reason": str(exc)})
        return Response(NOT_FOUND_PAGE, status=404, mimetype="text/html")
    content = f"{delivery.step_id}-{delivery.variant or 'default'}"
    try:
        record_click(
            session,
            delivery_id=delivery.id,
            shopper_id=delivery.shopper_id,
            campaign=delivery.scenario_id,
            content=content,
            url=url,
            now=now,
        )
        session.commit()
    except Exception:
        session.rollback()
        log.exception("click not recorded", extra={"delivery_id": delivery.id})
    return _redirect(add_utm(url, delivery.scenario_id, content, delivery.channel))
