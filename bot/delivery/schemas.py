"""The shop events of POST /api/v1/events, defined once as pydantic models.

The models check every posted event (`parse_event`) and are the OpenAPI components of its
body (`EVENT_SCHEMAS`), so the document and the checks cannot disagree. What an accepted
event does is `bot.delivery.events`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from bot.linking.schemas import PATTERNS as LINKING_PATTERNS
from bot.linking.schemas import LineUserId, MemberId
from bot.shop_api.openapi import LINK_MARK, component_schemas
from bot.shop_api.validation import FIELD_KEY, describe, first_error
from line_messages.links import host_allowed, is_web_url


class EventInvalid(ValueError):
    """A field of a shop event is missing or wrong; `field` is its path (`cart.items[0].sku`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# -- the field types -------------------------------------------------------------------------

# What counts as white space, spelled out so the OpenAPI schema's pattern says the same thing
# (JSON Schema's `\s` and Python's str.strip() disagree on control characters).
WHITESPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# Some character that is not white space, and no NUL anywhere (PostgreSQL text can't hold it).
NOT_BLANK_PATTERN = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"


def _text(max_length: int) -> Any:
    # A lone surrogate (JSON can escape one; no database or LINE can store it) fails the
    # string check itself, as `string_unicode`.
    return Annotated[
        str, Strict(), StringConstraints(max_length=max_length, pattern=NOT_BLANK_PATTERN)
    ]


Id = _text(128)  # what the shop's systems assign: event, cart and order ids, SKUs
Name = _text(200)  # a product name
ShortText = _text(60)  # a carrier, a tracking number


# Amounts, quantities and stock must fit a 32-bit database integer (2,147,483,647 yen is
# far beyond any order).
MAX_WHOLE = 2**31 - 1


def _integral(value: object) -> object:
    # JSON has one number type: 3.0 is the whole number 3.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _whole(minimum: int) -> Any:
    return Annotated[int, Strict(), Field(ge=minimum, le=MAX_WHOLE), BeforeValidator(_integral)]


Amount = _whole(0)  # yen, or units in stock
Quantity = _whole(1)

MAX_URL = 2000
WEB_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s@\\]+([/?#]|$)"
WEB_URL_WHAT = "an absolute http(s) URL without a user name or password (user@host)"


def _web_url(value: str) -> str:
    # The pattern is what the document can say; urlsplit has the last word on the host.
    if "\x00" in value:
        raise PydanticCustomError("web_url", "must not contain NUL characters")
    if not is_web_url(value):
        raise PydanticCustomError("web_url", f"must be {WEB_URL_WHAT}")
    return value


LINK_HOSTS = "link_hosts"  # validation context: the hosts a shop link may open, or None


def _on_shop_host(value: str, info: ValidationInfo) -> str:
    hosts = (info.context or {}).get(LINK_HOSTS)
    if hosts is not None and not host_allowed(value, hosts):
        raise PydanticCustomError(
            "link_host", "must link to one of the shop's own hosts (LINK_HOSTS)"
        )
    return value


WebUrl = Annotated[
    str,
    Strict(),
    StringConstraints(max_length=MAX_URL, pattern=WEB_URL_PATTERN),
    AfterValidator(_web_url),
    Field(json_schema_extra={"format": "uri"}),
]
# A link the shopper opens through a tracking link: it must point at the shop's own hosts.
# Images (`image_url`) are fetched by LINE, never redirected to, so they may live on a CDN.
ShopLink = Annotated[
    WebUrl, AfterValidator(_on_shop_host), Field(json_schema_extra={LINK_MARK: True})
]

MIN_EVENT_YEAR, MAX_EVENT_YEAR = 2000, 2999
EVENT_TIME_PATTERN = r"^2[0-9]{3}-"  # the same bounds, for the document


def _event_time(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise PydanticCustomError("event_time", "is required (ISO 8601 with a UTC offset)")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise PydanticCustomError(
            "event_time", "{raw} is not an ISO 8601 date-time", {"raw": repr(raw)}
        ) from None
    if value.tzinfo is None:
        raise PydanticCustomError("event_time", "needs a UTC offset such as +09:00 or Z")
    # The engine adds days and months to this time, and 0001-01-01T00:00+14:00 has no UTC
    # date at all: keep well inside what datetime can hold (the year as written).
    if not MIN_EVENT_YEAR <= value.year <= MAX_EVENT_YEAR:
        raise PydanticCustomError(
            "event_time", f"must fall between the years {MIN_EVENT_YEAR} and {MAX_EVENT_YEAR}"
        )
    return value.astimezone(UTC)


EventTime = Annotated[
    datetime,
    BeforeValidator(_event_time),
    Field(
        description="With offset; a year from 2000 to 2999.",
        json_schema_extra={"pattern": EVENT_TIME_PATTERN},
    ),
]


def _iso_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date", "must be a date YYYY-MM-DD") from None
    return value


IsoDate = Annotated[
    str,
    Strict(),
    StringConstraints(max_length=10),
    AfterValidator(_iso_date),
    Field(json_schema_extra={"format": "date"}),
]

MAX_ITEMS = 200

# -- the events ------------------------------------------------------------------------------
# Unknown fields are ignored (pydantic's default) and left out of the stored event.


class ShopEventItem(BaseModel):
    """One line of a cart or an order."""

    sku: Id
    name: Name
    price: Amount = Field(description="Unit price in yen.")
    quantity: Quantity
    image_url: WebUrl | None = None
    product_url: ShopLink | None = Field(default=None, description="Required in carts.")
    stock: Amount | None = Field(default=None, description="Units left (optional).")


class ShopEventCartItem(ShopEventItem):
    """A cart line: the reminder links to its product."""

    product_url: ShopLink


class ShopEventCart(BaseModel):
    """The cart as it is now."""

    id: Id
    url: ShopLink
    currency: Literal["JPY"]
    subtotal: Amount
    items: list[ShopEventCartItem] = Field(max_length=MAX_ITEMS)


class ShopEventOrder(BaseModel):
    """A placed order."""

    id: Id
    cart_id: Id | None = None
    total: Amount
    items: list[ShopEventItem] = Field(max_length=MAX_ITEMS)
    url: ShopLink | None = None


class _Event(BaseModel):
    type: str
    event_id: Id = Field(description="Unique per event.")
    occurred_at: EventTime
    member_id: MemberId | None = None
    line_user_id: LineUserId | None = None

    def body(self) -> dict[str, Any]:
        """The fields of the event's type, as stored (absent optional ones as None)."""
        return self.model_dump(exclude=set(_Event.model_fields))


class _CustomerEvent(_Event):
    """An event about one customer: the member, or the LINE user if not linked."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["member_id"]}, {"required": ["line_user_id"]}]}
    )

    @model_validator(mode="after")
    def _names_a_customer(self) -> Self:
        if self.member_id is None and self.line_user_id is None:
            raise PydanticCustomError(
                "customer", "is required (or line_user_id)", {FIELD_KEY: "member_id"}
            )
        return self


class CartUpdatedEvent(_CustomerEvent):
    type: Literal["cart.updated"]
    cart: ShopEventCart


class CartClearedEvent(_CustomerEvent):
    type: Literal["cart.cleared"]
    cart_id: Id


class OrderPlacedEvent(_CustomerEvent):
    type: Literal["order.placed"]
    order: ShopEventOrder


class OrderShippedEvent(_CustomerEvent):
    type: Literal["order.shipped"]
    order_id: Id
    carrier: ShortText
    tracking_number: ShortText
    tracking_url: ShopLink | None = None
    estimated_delivery_date: IsoDate | None = None


class OrderDeliveredEvent(_CustomerEvent):
    type: Literal["order.delivered"]
    order_id: Id


class ShopEventPayment(BaseModel):
    """An order waiting for payment (konbini, bank transfer, pay-easy…)."""

    method: ShortText = Field(description="How the shopper pays, e.g. コンビニ払い.")
    deadline: EventTime = Field(
        description="Pay by this time. Reminders whose time has passed when the event "
        "arrives are skipped (a deadline already past sends none)."
    )
    amount: Amount = Field(description="Yen to pay.")
    url: ShopLink = Field(description="The page with the payment number or slip.")


class OrderPaymentPendingEvent(_CustomerEvent):
    type: Literal["order.payment_pending"]
    order_id: Id
    payment: ShopEventPayment

    def body(self) -> dict[str, Any]:
        """As stored: the deadline as ISO 8601 text (UTC), so the JSON column can hold it."""
        return self.model_dump(mode="json", exclude=set(_Event.model_fields))


class OrderPaidEvent(_CustomerEvent):
    type: Literal["order.paid"]
    order_id: Id


class OrderCancelledEvent(_CustomerEvent):
    type: Literal["order.cancelled"]
    order_id: Id


class ProductRestockedEvent(_Event):
    type: Literal["product.restocked"]
    sku: Id
    name: Name
    product_url: ShopLink
    image_url: WebUrl | None = None


class ProductStockChangedEvent(_Event):
    type: Literal["product.stock_changed"]
    sku: Id
    stock: Amount = Field(
        description=(
            "Units left now. Updates every cart holding the SKU without restarting "
            "its reminders; an older figure than one already known is ignored."
        )
    )


EVENT_MODELS: tuple[type[_Event], ...] = (
    CartUpdatedEvent,
    CartClearedEvent,
    OrderPlacedEvent,
    OrderShippedEvent,
    OrderDeliveredEvent,
    OrderPaymentPendingEvent,
    OrderPaidEvent,
    OrderCancelledEvent,
    ProductRestockedEvent,
    ProductStockChangedEvent,
)
ShopEvent = Annotated[
    CartUpdatedEvent
    | CartClearedEvent
    | OrderPlacedEvent
    | OrderShippedEvent
    | OrderDeliveredEvent
    | OrderPaymentPendingEvent
    | OrderPaidEvent
    | OrderCancelledEvent
    | ProductRestockedEvent
    | ProductStockChangedEvent,
    Field(discriminator="type"),
]
EVENT_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in EVENT_MODELS
)
# Events about the catalogue rather than one customer.
PRODUCT_EVENTS: tuple[str, ...] = tuple(
    kind
    for kind, model in zip(EVENT_TYPES, EVENT_MODELS, strict=True)
    if not issubclass(model, _CustomerEvent)
)

_EVENTS: TypeAdapter[_Event] = TypeAdapter(ShopEvent)
# The request body's component schemas: ShopEvent (one of the event types) and its parts.
EVENT_SCHEMAS = component_schemas("ShopEvent", ShopEvent)

# -- checking --------------------------------------------------------------------------------

_PATTERNS: Mapping[str, str] = {
    **LINKING_PATTERNS,
    NOT_BLANK_PATTERN: "a non-empty string without NUL characters",
    WEB_URL_PATTERN: WEB_URL_WHAT,
}


def parse_event(payload: Any, link_hosts: Collection[str] | None = None) -> _Event:
    """Check a POSTed event strictly; EventInvalid names the first bad field.

    With `link_hosts`, every shop link must open one of those hosts.
    """
    if not isinstance(payload, Mapping):
        raise EventInvalid("(body)", "must be a JSON object")
    try:
        return _EVENTS.validate_python(payload, context={LINK_HOSTS: link_hosts})
    except ValidationError as exc:
        raise _invalid(first_error(exc)) from None


def _invalid(error: ErrorDetails) -> EventInvalid:
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return EventInvalid("type", f"must be one of {', '.join(EVENT_TYPES)}")
    # The location starts with the event type (the union's tag): the field follows it.
    found = describe(error, _PATTERNS, null_is_missing=True, loc=error["loc"][1:])
    if found.field == "occurred_at" and found.code == "missing_field":
        return EventInvalid(found.field, "is required (ISO 8601 with a UTC offset)")
    return EventInvalid(found.field, found.message)
