"""The data each template takes. Every field not marked Required may be left out.

Amounts are integer yen (tax included). Datetimes are aware datetimes or ISO 8601 strings
with an offset (JSON samples use strings); dates may also be ``YYYY-MM-DD``. URLs must be
absolute http(s); anything else is treated as missing. Image URLs must be https, otherwise
the shop's placeholder image is shown. ``timezone`` (an IANA name) overrides the shop's
zone for the dates shown in that one message.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Required, TypedDict

DateTimeLike = datetime | str
DateLike = date | datetime | str


class Item(TypedDict, total=False):
    """A product line in a cart, order or recommendation."""

    name: Required[str]
    price: int  # unit price; without it the item says 「価格は商品ページでご確認ください」
    quantity: int  # default 1
    variant: str  # e.g. 「M / ネイビー」
    image_url: str
    url: str  # product page
    review_url: str  # review_request: where to write this item's review
    stock: int  # remaining units, as reported by the shop
    low_stock: bool  # the shop reports this item's stock as low (only these are flagged)


class Coupon(TypedDict, total=False):
    """A coupon code offered to the shopper."""

    code: Required[str]
    description: str  # e.g. 「お買い物かごの商品が10%OFF」
    expires_at: DateTimeLike


class _Common(TypedDict, total=False):
    shopper_name: str  # shown as 「<name>様」; 「お客様」 when missing
    shop_name: str
    help_url: str  # contact page, shown as a secondary link where the layout has one
    timezone: str


class CartData(_Common, total=False):
    """cart_reminder, cart_incentive, cart_low_stock."""

    cart_url: Required[str]
    items: list[Item]
    subtotal: int  # computed from the items when every item has a price
    coupon: Coupon  # cart_incentive
    free_shipping_threshold: int  # cart_incentive: 「あと¥1,200で送料無料」


class PurchaseThanksData(_Common, total=False):
    """purchase_thanks."""

    order_number: Required[str]
    items: list[Item]
    total: int
    order_url: str


class ShippingNoticeData(_Common, total=False):
    """shipping_notice."""

    order_number: Required[str]
    carrier: str  # e.g. 「ヤマト運輸」
    tracking_number: str
    tracking_url: str
    estimated_delivery: DateLike
    items: list[Item]


class Payment(TypedDict, total=False):
    """An order waiting for payment."""

    method: str  # e.g. 「コンビニ払い」
    deadline: Required[DateLike]
    amount: Required[int]
    url: Required[str]  # the page with the payment number or slip


class PaymentReminderData(_Common, total=False):
    """payment_reminder."""

    order_number: Required[str]
    payment: Required[Payment]


class ReviewRequestData(_Common, total=False):
    """review_request: one bubble per item with its review link."""

    items: Required[list[Item]]
    incentive: str  # e.g. 「レビュー投稿で100ポイントプレゼント」
    reviews_url: str  # the order's review page, used for items without review_url


class RepeatOfferData(_Common, total=False):
    """repeat_offer: recommended items plus an optional coupon."""

    items: Required[list[Item]]
    shop_url: Required[str]
    coupon: Coupon


class RestockNoticeData(_Common, total=False):
    """restock_notice."""

    item: Required[Item]


class FaqAnswerData(TypedDict, total=False):
    """faq_answer."""

    faq_id: Required[int | str]
    answer: Required[str]
    question: str


class FaqCandidate(TypedDict):
    """One candidate question for faq_candidates."""

    faq_id: int | str
    question: str


class FaqCandidatesData(TypedDict, total=False):
    """faq_candidates: the best matches for a shopper's question."""

    candidates: Required[list[FaqCandidate]]


class AccountLinkPromptData(_Common, total=False):
    """account_link_prompt."""

    login_url: Required[str]
    benefit: str  # e.g. 「ご注文状況をLINEで確認できます」


class EscalationData(_Common, total=False):
    """escalation_handed, escalation_returned."""


class AbandonmentSurveyData(_Common, total=False):
    """abandonment_survey: nothing beyond the common fields (the reasons are fixed)."""


class EscalationOffHoursData(_Common, total=False):
    """escalation_off_hours: when staff will reply."""

    reply_at: Required[DateTimeLike]
    business_hours: str  # e.g. 「平日 10:00〜18:00」
