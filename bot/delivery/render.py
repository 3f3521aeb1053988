"""Rendering a delivery: its template data from the cart or order as it is now, its tracked
links, and the message checked against LINE's limits. No database, no LINE calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.core.settings import Settings
from bot.delivery.scenarios import Step
from bot.delivery.send_rules import low_stock_items, sold_out, with_latest_stock
from bot.delivery.tracking import link_key, sign_link
from bot.line.gateway import Message
from bot.models import Cart, Delivery, Flow, Order, Shopper
from line_messages import URI_MAX

if TYPE_CHECKING:
    from flex_templates import TemplateRegistry

LINK_LIFETIME = timedelta(days=90)


def _template_item(item: dict[str, Any], *, low: bool = False) -> dict[str, Any]:
    out = {
        "name": item["name"],
        "price": item.get("price"),
        "quantity": item.get("quantity") or 1,
        "image_url": item.get("image_url"),
        "url": item.get("product_url") or item.get("url"),
    }
    if low:
        out["stock"] = item.get("stock")
        out["low_stock"] = True
    if sold_out(item):
        out["stock"] = item.get("stock")
        out["sold_out"] = True
    return {k: v for k, v in out.items() if v is not None}


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def template_data(
    delivery: Delivery,
    flow: Flow,
    step: Step,
    shopper: Shopper,
    settings: Settings,
    *,
    carts: Mapping[str, Cart],
    orders: Mapping[str, Order],
    stock: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The template's data from the cart/order as it is now.

    Call it once `send_rules.subject_decision` has found the subject still there. Cart items
    carry the latest stock known for their SKU (`stock`), which may be newer than the cart's
    own report.
    """
    context = flow.context or {}
    data: dict[str, Any] = {"shop_name": settings.shop_name, "help_url": settings.help_url}
    if shopper.display_name:
        data["shopper_name"] = shopper.display_name
    if "cart_id" in context:
        cart = carts[context["cart_id"]]
        items = with_latest_stock(list(cart.data.get("items") or []), stock or {})
        flagged: list[dict[str, Any]] = []
        if step.low_stock_at_most is not None:
            flagged = low_stock_items(items, step.low_stock_at_most)
        flagged_skus = {i["sku"] for i in flagged}
        data.update(
            cart_url=cart.data["url"],
            subtotal=cart.data.get("subtotal"),
            items=[_template_item(i, low=i["sku"] in flagged_skus) for i in items],
        )
    elif "order_id" in context:
        order = orders[context["order_id"]]
        odata = order.data or {}
        items = [_template_item(i) for i in odata.get("items") or []]
        data.update(order_number=order.order_id, items=items)
        if odata.get("total") is not None:
            data["total"] = odata["total"]
        if odata.get("url"):
            data["order_url"] = odata["url"]
        shipping = order.shipping or {}
        for key in ("carrier", "tracking_number", "tracking_url"):
            if shipping.get(key):
                data[key] = shipping[key]
        if shipping.get("estimated_delivery_date"):
            data["estimated_delivery"] = shipping["estimated_delivery_date"]
        if context.get("payment"):
            data["payment"] = dict(context["payment"])
        shop_url = _origin(next((i.get("url") for i in items if i.get("url")), None))
        if shop_url:
            data["shop_url"] = shop_url
    elif "item" in context:
        item = dict(context["item"])
        data["item"] = {k: v for k, v in item.items() if k != "sku" and v is not None}
    data.update(step_data(step, delivery.variant))
    return data


def step_data(step: Step, variant: str | None) -> dict[str, Any]:
    """What a step and its A/B arm add to the template's data (a coupon, an incentive)."""
    data = dict(step.data)
    arm = next((v for v in step.variants if v.name == variant), None)
    if arm is not None:
        data.update(arm.data)
    return data


def tracking_linker(
    delivery: Delivery, settings: Settings, stored: dict[str, str], *, now: datetime | None = None
) -> Callable[[str, str], str]:
    """The tracking wrapper for a delivery's links.

    The token carries its target while the link stays within LINE's URI limit; past it
    (a long product URL) it carries a key instead, and the target goes into `stored`
    to be kept in `tracked_links` with the batch.

    With `now`, the link is the step's, not the shopper's (a multicast step): it names no
    delivery or shopper and expires with the day it was sent, so every shopper's message of
    the step in a batch is the same.
    """
    secret = settings.secret_key.encode()
    base = settings.public_base_url.rstrip("/")
    content = f"{delivery.step_id}-{delivery.variant or 'default'}"
    if now is None:
        delivery_id, shopper_id = delivery.id, delivery.shopper_id
        expires = delivery.created_at + LINK_LIFETIME
    else:
        delivery_id = shopper_id = None
        expires = datetime.combine(now.date(), time(), tzinfo=now.tzinfo) + LINK_LIFETIME

    def link(url: str, _label: str) -> str:
        def tracked(stored_target: bool) -> str:
            token = sign_link(
                secret,
                url=url,
                delivery_id=delivery_id,
                shopper_id=shopper_id,
                campaign=delivery.scenario_id,
                content=content,
                expires_at=expires,
                stored=stored_target,
            )
            return f"{base}/r/{token}"

        inline = tracked(False)
        if len(inline) <= URI_MAX:
            return inline
        stored[link_key(url)] = url
        return tracked(True)

    return link


def render_message(
    templates: TemplateRegistry,
    delivery: Delivery,
    step: Step,
    data: dict[str, Any],
    *,
    link: Callable[[str, str], str],
    marketing: bool,
) -> tuple[Message, str | None]:
    """The delivery's message and, if it had to be made smaller for LINE, why.

    Checked against LINE's limits here: a message LINE refuses would fail with a 400 on every
    retry. Too big, it is sent smaller or as text; never valid, it raises with LINE's reason.
    """
    variant = next((v for v in step.variants if v.name == delivery.variant), None)
    return templates.render_for_line(
        delivery.template,
        data,
        variant=variant.template_variant if variant else None,
        link=link,
        marketing=marketing,
    )
