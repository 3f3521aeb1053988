"""Typed builders: turn a template's data into placeholder values, sections and altText.

One builder per shipped template, side by side (over 400 lines, one coherent thing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flex_templates.engine import Scope
from flex_templates.formatting import (
    format_date,
    format_datetime,
    format_price,
    image_url,
    one_line,
    parse_date,
    parse_datetime,
    truncate,
    web_url,
)

# LINE shows at most 12 bubbles; cart-like carousels keep one for the summary and, when items
# overflow, one for 「他N点」, which leaves 10 (or 11 without overflow) for items.
MAX_BUBBLES = 12
MAX_ORDER_ROWS = 10
MAX_FAQ_CANDIDATES = 5
ALT_TEXT_MAX = 400  # well under LINE's limit: it is the one line shown in notifications
QUICK_REPLY_LABEL_MAX = 20
NAME_IN_TEXT_MAX = 20
CODE_MAX = 40
ANSWER_MAX = 2000
OPTOUT_DATA = "action=optout"
CART_SURVEY_ACTION = "cart_survey"
# Why a cart was left: postback code → the quick reply's label (also the shopper's answer).
CART_SURVEY_REASONS = {
    "shipping_fee": "送料が高い",
    "payment": "支払い方法がない",
    "comparing": "他のお店と比較中",
    "later": "後で買うつもり",
    "stock_size": "在庫・サイズが合わない",
    "other": "その他",
}


class TemplateDataError(ValueError):
    """The data passed to a template lacks a required field or has an unusable value."""


@dataclass(frozen=True)
class RenderEnv:
    """Shop-wide settings that affect rendering."""

    tz: ZoneInfo
    placeholder_image_url: str
    max_name_length: int = 40


@dataclass
class Built:
    """What a builder hands to the renderer.

    `link` is the message's main destination (the cart, the order…), used when the message
    has to fall back to plain text.
    """

    scope: Scope
    alt_text: str
    quick_replies: list[dict[str, Any]] = field(default_factory=list)
    link: str | None = None


Builder = Callable[[Mapping[str, Any], RenderEnv], Built]


def _require(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is None or value == "" or value == []:
        raise TemplateDataError(f"{key} is required")
    return value


def _required_url(data: Mapping[str, Any], key: str) -> str:
    url = web_url(_require(data, key))
    if url is None:
        raise TemplateDataError(f"{key} must be an http(s) URL")
    return url


def _text(value: Any, max_length: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return truncate(text, max_length) if text else None


def _env_tz(data: Mapping[str, Any], env: RenderEnv) -> ZoneInfo:
    name = data.get("timezone")
    return ZoneInfo(name) if name else env.tz


def salutation(data: Mapping[str, Any]) -> str:
    """「山田 花子様」 when the shopper's name is known, otherwise 「お客様」."""
    name = _text(one_line(str(data.get("shopper_name") or "")), NAME_IN_TEXT_MAX)
    return f"{name}様" if name else "お客様"


def _one(values: Mapping[str, Any] | None) -> list[Scope]:
    return [] if values is None else [Scope(values)]


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _quantity(item: Mapping[str, Any]) -> int:
    quantity = _int(item.get("quantity"))
    return quantity if quantity is not None and quantity > 0 else 1


SOLD_OUT = {"text": "在庫切れ"}


def _sold_out(item: Mapping[str, Any]) -> dict[str, str] | None:
    """「在庫切れ」 for an item the shop reports none left of."""
    stock = _int(item.get("stock"))
    if item.get("sold_out") is True or (stock is not None and stock <= 0):
        return SOLD_OUT
    return None


def _low_stock(item: Mapping[str, Any]) -> dict[str, str] | None:
    """Only items the shop reports as low are flagged, with the real count when known."""
    if item.get("low_stock") is not True:
        return None
    stock = _int(item.get("stock"))
    if stock is not None and stock <= 0:
        return SOLD_OUT
    return {"text": f"残り{stock}点" if stock is not None else "在庫わずか"}


def _really_low(item: Mapping[str, Any]) -> bool:
    return _low_stock(item) is not None and _sold_out(item) is None


def item_scope(item: Mapping[str, Any], env: RenderEnv, *, fallback_url: str | None) -> Scope:
    """Placeholder values of one product: name, price, image, link and optional flags."""
    name = _text(item.get("name"), env.max_name_length) or "商品"
    price = _int(item.get("price"))
    quantity = _quantity(item)
    url = web_url(item.get("url")) or fallback_url
    review = web_url(item.get("review_url")) or fallback_url
    values = {
        "name": name,
        "price": format_price(price) if price is not None else "価格は商品ページでご確認ください",
        "quantity": str(quantity),
        "image_url": image_url(item.get("image_url"), env.placeholder_image_url),
        "url": url or "",
        "review_url": review or "",
    }
    variant = _text(item.get("variant"), env.max_name_length)
    return Scope(
        values,
        {
            "variant": _one({"text": variant} if variant else None),
            "low_stock": _one(_low_stock(item) or _sold_out(item)),
            "sold_out": _one(_sold_out(item)),
        },
    )


def _items(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = data.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise TemplateDataError("items must be a list of objects")
    return [i for i in items if i.get("name") is not None]


# Data key that caps the bubbles a carousel gives its items (the 「他N点」 one included):
# the sender lowers it when a message is over LINE's size limits.
ITEM_BUBBLES_KEY = "max_item_bubbles"


def split_for_carousel(
    items: Sequence[Any], fixed_bubbles: int = 1, data: Mapping[str, Any] | None = None
) -> tuple[list[Any], int]:
    """Items that fit in a carousel beside fixed bubbles, and how many are left over."""
    room = MAX_BUBBLES - fixed_bubbles
    cap = _int((data or {}).get(ITEM_BUBBLES_KEY))
    if cap is not None and cap >= 2:
        room = min(room, cap)
    if len(items) <= room:
        return list(items), 0
    shown = room - 1  # one bubble goes to 「他N点」
    return list(items[:shown]), len(items) - shown


def _subtotal(data: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> int | None:
    given = _int(data.get("subtotal"))
    if given is not None:
        return given
    prices = [_int(i.get("price")) for i in items]
    if not items or any(p is None for p in prices):
        return None
    return sum(p * _quantity(i) for p, i in zip(prices, items, strict=True) if p is not None)


def coupon_scope(coupon: Any, tz: ZoneInfo) -> list[Scope]:
    """The optional coupon box: code, description and expiry in the shop's local time."""
    if not isinstance(coupon, Mapping) or not coupon.get("code"):
        return []
    code = _text(one_line(str(coupon["code"])), CODE_MAX) or ""
    note = _text(coupon.get("description"), 60)
    expiry = None
    if coupon.get("expires_at"):
        try:
            expires = parse_datetime(coupon["expires_at"])
        except (TypeError, ValueError) as exc:
            raise TemplateDataError(f"coupon.expires_at: {exc}") from exc
        expiry = {"text": f"{format_datetime(expires, tz)}まで有効"}
    return [
        Scope(
            {"code": code},
            {"note": _one({"text": note} if note else None), "expiry": _one(expiry)},
        )
    ]


def _common_values(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[Scope]]]:
    shop = _text(one_line(str(data.get("shop_name") or "")), 40)
    help_url = web_url(data.get("help_url"))
    values = {"salutation": salutation(data)}
    sections = {
        "shop": _one({"name": shop} if shop else None),
        "help": _one({"url": help_url} if help_url else None),
    }
    return values, sections


def _first_names(items: Sequence[Mapping[str, Any]]) -> str:
    first = truncate(one_line(str(items[0].get("name") or "商品")), 30)
    return f"「{first}」ほか{len(items) - 1}点" if len(items) > 1 else f"「{first}」"


def alt(text: str) -> str:
    """altText on one line, safely within LINE's limit."""
    return truncate(one_line(text), ALT_TEXT_MAX)


def _cart(data: Mapping[str, Any], env: RenderEnv, *, kind: str) -> Built:
    cart_url = _required_url(data, "cart_url")
    tz = _env_tz(data, env)
    items = _items(data)
    if kind == "low_stock":
        # Flagged items first so they are the ones that fit in the carousel.
        items = sorted(items, key=lambda i: not _really_low(i))
    # Sold-out items last: what can still be bought comes first.
    items = sorted(items, key=lambda i: _sold_out(i) is not None)
    shown, hidden = split_for_carousel(items, data=data)
    values, sections = _common_values(data)
    values["cart_url"] = cart_url
    subtotal = _subtotal(data, items)
    sections["item"] = [item_scope(i, env, fallback_url=cart_url) for i in shown]
    sections["more"] = _one({"count": str(hidden), "url": cart_url} if hidden else None)
    sections["subtotal"] = _one(
        {"amount": format_price(subtotal), "count": str(sum(_quantity(i) for i in items))}
        if subtotal is not None
        else None
    )
    sections["coupon"] = coupon_scope(data.get("coupon"), tz)
    threshold = _int(data.get("free_shipping_threshold"))
    remaining = None
    if threshold is not None and subtotal is not None:
        remaining = threshold - subtotal
    sections["free_shipping"] = _one(
        {"remaining": format_price(remaining), "threshold": format_price(threshold or 0)}
        if remaining is not None and remaining > 0
        else None
    )
    sections["free_shipping_reached"] = _one(
        {"text": "送料無料でお届けします"} if remaining is not None and remaining <= 0 else None
    )
    flagged = [i for i in items if _really_low(i)]
    sections["urgency"] = _one({"count": str(len(flagged))} if flagged else None)

    who = salutation(data)
    what = _first_names(items) if items else "商品"
    if kind == "incentive" and sections["coupon"]:
        text = f"{who}へ、お買い物かごの{what}にお使いいただけるクーポンをお届けします。"
    elif kind == "incentive" and remaining is not None and remaining > 0:
        text = (
            f"{who}、あと{format_price(remaining)}で送料無料です。お買い物かごに{what}があります。"
        )
    elif kind == "low_stock" and flagged:
        text = f"{who}、お買い物かごの商品の在庫が残りわずかです。{what}"
    else:
        text = f"{who}、お買い物かごに{what}が残っています。"
    return Built(Scope(values, sections), alt(text), link=cart_url)


def build_cart_reminder(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """Step 1: a friendly reminder with the cart's items."""
    return _cart(data, env, kind="reminder")


def build_cart_incentive(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """Step 2: the cart with a coupon and/or the distance to free shipping."""
    return _cart(data, env, kind="incentive")


def build_cart_low_stock(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """Step 3: the cart, flagging only the items whose stock the shop reports as low."""
    return _cart(data, env, kind="low_stock")


def build_purchase_thanks(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """Thanks right after an order: order number, items and total."""
    order = _text(one_line(str(_require(data, "order_number"))), 40) or ""
    items = _items(data)
    shown, hidden = items[:MAX_ORDER_ROWS], max(0, len(items) - MAX_ORDER_ROWS)
    values, sections = _common_values(data)
    values["order_number"] = order
    order_url = web_url(data.get("order_url"))
    total = _int(data.get("total"))
    if total is None:
        total = _subtotal({}, items)
    sections["item"] = [item_scope(i, env, fallback_url=order_url) for i in shown]
    sections["more"] = _one({"count": str(hidden)} if hidden else None)
    sections["total"] = _one({"amount": format_price(total)} if total is not None else None)
    sections["order_link"] = _one({"url": order_url} if order_url else None)
    text = f"{salutation(data)}、ご注文ありがとうございます(ご注文番号 {order})。"
    return Built(Scope(values, sections), alt(text), link=order_url)


def build_shipping_notice(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """The order has shipped: carrier, tracking link and estimated delivery date."""
    tz = _env_tz(data, env)
    order = _text(one_line(str(_require(data, "order_number"))), 40) or ""
    values, sections = _common_values(data)
    values["order_number"] = order
    carrier = _text(one_line(str(data.get("carrier") or "")), 40)
    number = _text(one_line(str(data.get("tracking_number") or "")), 40)
    tracking_url = web_url(data.get("tracking_url"))
    delivery = None
    if data.get("estimated_delivery"):
        try:
            delivery = format_date(parse_date(data["estimated_delivery"], tz))
        except (TypeError, ValueError) as exc:
            raise TemplateDataError(f"estimated_delivery: {exc}") from exc
    sections["carrier"] = _one({"name": carrier} if carrier else None)
    sections["tracking_number"] = _one({"number": number} if number else None)
    sections["tracking"] = _one({"url": tracking_url} if tracking_url else None)
    sections["delivery"] = _one({"date": delivery} if delivery else None)
    text = f"{salutation(data)}、ご注文の商品を発送しました(ご注文番号 {order})。"
    if delivery:
        text += f"お届け予定日は{delivery}です。"
    return Built(Scope(values, sections), alt(text), link=tracking_url)


def build_payment_reminder(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """An unpaid order: method, amount, deadline (shop time) and a button to the payment page."""
    tz = _env_tz(data, env)
    order = _text(one_line(str(_require(data, "order_number"))), 40) or ""
    payment = _require(data, "payment")
    if not isinstance(payment, Mapping):
        raise TemplateDataError("payment must be an object")
    url = _required_url(payment, "url")
    amount = _int(payment.get("amount"))
    if amount is None:
        raise TemplateDataError("payment.amount is required")
    try:
        deadline = format_datetime(parse_datetime(_require(payment, "deadline")), tz)
    except (TypeError, ValueError) as exc:
        raise TemplateDataError(f"payment.deadline: {exc}") from exc
    values, sections = _common_values(data)
    values.update(
        order_number=order,
        method=_text(one_line(str(payment.get("method") or "")), 40) or "お支払い",
        amount=format_price(amount),
        deadline=deadline,
        payment_url=url,
    )
    text = (
        f"{salutation(data)}、ご注文(ご注文番号 {order})のお支払い期限は{deadline}です。"
        f"お支払い金額は{format_price(amount)}です。"
    )
    return Built(Scope(values, sections), alt(text), link=url)


def build_review_request(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """A review request: one bubble per item with its review link."""
    reviews_url = web_url(data.get("reviews_url"))
    items = [
        i
        for i in _items(data)
        if web_url(i.get("review_url")) or web_url(i.get("url")) or reviews_url
    ]
    if not items:
        raise TemplateDataError("review_request needs items with a review_url, url or reviews_url")
    shown, hidden = split_for_carousel(items, data=data)
    if hidden and reviews_url is None:
        shown, hidden = items[: len(shown) + 1], 0
    values, sections = _common_values(data)
    sections["item"] = [
        item_scope(
            {**i, "review_url": i.get("review_url") or i.get("url")}, env, fallback_url=reviews_url
        )
        for i in shown
    ]
    sections["more"] = _one({"count": str(hidden), "url": reviews_url} if hidden else None)
    incentive = _text(data.get("incentive"), 60)
    sections["incentive"] = _one({"text": incentive} if incentive else None)
    text = f"{salutation(data)}、{_first_names(items)}のご感想をレビューでお聞かせください。"
    if incentive:
        text += incentive
    first = shown[0]
    link = reviews_url or web_url(first.get("review_url")) or web_url(first.get("url"))
    return Built(Scope(values, sections), alt(text), link=link)


def build_repeat_offer(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """Recommendations based on past purchases, with an optional coupon."""
    shop_url = _required_url(data, "shop_url")
    tz = _env_tz(data, env)
    items = _items(data)
    shown, hidden = split_for_carousel(items, data=data)
    values, sections = _common_values(data)
    values["shop_url"] = shop_url
    sections["item"] = [item_scope(i, env, fallback_url=shop_url) for i in shown]
    sections["more"] = _one({"count": str(hidden), "url": shop_url} if hidden else None)
    sections["coupon"] = coupon_scope(data.get("coupon"), tz)
    text = f"{salutation(data)}、いつもありがとうございます。おすすめの商品をご紹介します。"
    if sections["coupon"]:
        text += "クーポンもご用意しました。"
    return Built(Scope(values, sections), alt(text), link=shop_url)


def build_restock_notice(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """A product the shopper asked about is back in stock."""
    item = _require(data, "item")
    if not isinstance(item, Mapping) or not item.get("name"):
        raise TemplateDataError("item.name is required")
    url = web_url(item.get("url"))
    if url is None:
        raise TemplateDataError("item.url must be an http(s) URL")
    values, sections = _common_values(data)
    sections["item"] = [item_scope(item, env, fallback_url=url)]
    text = f"{salutation(data)}、お待たせしました。{_first_names([item])}が再入荷しました。"
    return Built(Scope(values, sections), alt(text), link=url)


def _postback(label: str, data: str, display_text: str) -> dict[str, Any]:
    return {"type": "postback", "label": label, "data": data, "displayText": display_text}


def build_faq_answer(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """An FAQ answer asking whether it solved the problem."""
    faq_id = quote(str(_require(data, "faq_id")), safe="")
    answer = _text(_require(data, "answer"), ANSWER_MAX) or ""
    question = _text(data.get("question"), 200)
    values = {"answer": answer, "faq_id": faq_id}
    sections = {"question": _one({"text": question} if question else None)}
    return Built(Scope(values, sections), alt(answer))


def build_faq_candidates(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """「もしかして」: the closest questions, as buttons and quick replies."""
    raw = _require(data, "candidates")
    if not isinstance(raw, list):
        raise TemplateDataError("candidates must be a list")
    candidates = [c for c in raw if isinstance(c, Mapping) and c.get("question")]
    candidates = candidates[:MAX_FAQ_CANDIDATES]
    if not candidates:
        raise TemplateDataError("candidates must hold at least one question")
    entries = []
    quick = []
    for c in candidates:
        question = _text(c["question"], 200) or ""
        postback = f"action=faq_pick&faq_id={quote(str(c.get('faq_id', '')), safe='')}"
        entries.append(Scope({"question": question, "data": postback}))
        label = truncate(one_line(question), QUICK_REPLY_LABEL_MAX)
        quick.append(
            {"type": "action", "action": _postback(label, postback, truncate(question, 300))}
        )
    first = truncate(one_line(str(candidates[0]["question"])), 60)
    return Built(
        Scope({}, {"candidate": entries}),
        alt(f"もしかして「{first}」のことでしょうか?"),
        quick,
    )


def build_account_link_prompt(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """Ask the shopper to link their LINE account to their shop membership."""
    login_url = _required_url(data, "login_url")
    values, sections = _common_values(data)
    values["login_url"] = login_url
    benefit = _text(data.get("benefit"), 80)
    sections["benefit"] = _one({"text": benefit} if benefit else None)
    return Built(
        Scope(values, sections),
        alt("会員情報とLINEアカウントの連携をお願いします。"),
    )


def build_escalation_handed(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """The chat has been handed to staff."""
    values, sections = _common_values(data)
    text = "担当者におつなぎしました。このままメッセージをお送りください。"
    return Built(Scope(values, sections), alt(text))


def build_escalation_off_hours(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """Outside business hours: when staff will reply."""
    tz = _env_tz(data, env)
    try:
        reply_at = parse_datetime(_require(data, "reply_at"))
    except (TypeError, ValueError) as exc:
        raise TemplateDataError(f"reply_at: {exc}") from exc
    values, sections = _common_values(data)
    values["reply_at"] = format_datetime(reply_at, tz, with_year=False)
    hours = _text(one_line(str(data.get("business_hours") or "")), 60)
    sections["business_hours"] = _one({"text": hours} if hours else None)
    return Built(
        Scope(values, sections),
        alt(f"ただいま営業時間外です。{values['reply_at']}以降に担当者よりご返信します。"),
    )


def build_escalation_returned(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """Staff handed the chat back to the automatic replies."""
    values, sections = _common_values(data)
    return Built(
        Scope(values, sections),
        alt("担当者とのやりとりを終了しました。引き続き自動応答でご案内します。"),
    )


def build_abandonment_survey(data: Mapping[str, Any], env: RenderEnv) -> Built:
    """After the cart reminders: why the cart was left, answered with one quick-reply tap."""
    values, sections = _common_values(data)
    quick = [
        {
            "type": "action",
            "action": _postback(label, f"action={CART_SURVEY_ACTION}&reason={code}", label),
        }
        for code, label in CART_SURVEY_REASONS.items()
    ]
    text = f"{salutation(data)}、よろしければお買い物を見送った理由を1つだけ教えてください。"
    return Built(Scope(values, sections), alt(text), quick_replies=quick)


def optout_quick_reply() -> dict[str, Any]:
    """The 「配信停止」 quick reply every marketing message carries."""
    return {"type": "action", "action": _postback("配信停止", OPTOUT_DATA, "配信停止")}
