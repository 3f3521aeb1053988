"""Shop events, carts/orders as the shop reported them, flows, planned deliveries, clicks."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base
from bot.models.core import _enum


class ShopEvent(Base):
    """One event POSTed by the EC site; the unique event id makes a resend harmless."""

    __tablename__ = "shop_events"
    __table_args__ = (Index("ix_shop_events_customer_pending", "customer_key", "applied"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    # "m:<member id>" or "u:<LINE user id>": who the shop says the event is about.
    customer_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    shopper_id: Mapped[int | None] = mapped_column(ForeignKey("shoppers.id", ondelete="SET NULL"))
    # False while the customer is not a linked shopper yet; replayed on member_linked.
    applied: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str | None] = mapped_column(String(200))


class CartState(enum.StrEnum):
    OPEN = "open"
    CLEARED = "cleared"
    ORDERED = "ordered"


class Cart(Base):
    """The latest state of a cart as reported by the shop (newest occurred_at wins)."""

    __tablename__ = "carts"
    # The abandoned-cart question's sweep: open or cleared carts changed recently.
    __table_args__ = (Index("ix_carts_state_changed_at", "state", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_key: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[CartState] = mapped_column(_enum(CartState))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    skus: Mapped[list[Any]] = mapped_column(JSON, default=list)
    changed_at: Mapped[datetime]  # occurred_at of the newest cart.updated applied
    closed_at: Mapped[datetime | None]  # occurred_at of the cart.cleared / order.placed
    updated_at: Mapped[datetime]


class CartSku(Base):
    """Which carts hold which product, so that a restock finds its audience through an index."""

    __tablename__ = "cart_skus"

    cart_id: Mapped[int] = mapped_column(
        ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class ProductStock(Base):
    """The latest stock the shop reported for a product, from any event that carried it."""

    __tablename__ = "product_stock"

    sku: Mapped[str] = mapped_column(String(128), primary_key=True)
    stock: Mapped[int]
    changed_at: Mapped[datetime]  # occurred_at of the newest report applied
    updated_at: Mapped[datetime]


class Order(Base):
    """An order as reported by the shop, with its shipping milestones."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_key: Mapped[str] = mapped_column(String(200), index=True)
    cart_id: Mapped[str | None] = mapped_column(String(128))
    total: Mapped[int | None]
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    shipping: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    placed_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class FlowState(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class Flow(Base):
    """One run of a scenario for one shopper and one subject (a cart, an order, a restock)."""

    __tablename__ = "delivery_flows"
    __table_args__ = (
        UniqueConstraint("shopper_id", "scenario_id", "subject", name="uq_delivery_flows_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shopper_id: Mapped[int] = mapped_column(ForeignKey("shoppers.id", ondelete="CASCADE"))
    scenario_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))  # "cart:C1", "order:O1", "restock:SKU:E1"
    state: Mapped[FlowState] = mapped_column(_enum(FlowState))
    anchor_at: Mapped[datetime]  # step delays count from here
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(200))


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    FAILED = "failed"


# What the delivery report reads of a period's deliveries (see ix_deliveries_due_report).
REPORT_COLUMNS = [
    "id",
    "scenario_id",
    "step_id",
    "step_index",
    "variant",
    "state",
    "shopper_id",
    "sent_at",
    "reason",  # the skip and cancel reasons, grouped in the same pass as the states
]


class Delivery(Base):
    """One planned message: the database, not Redis, is the record of what is to be sent."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("flow_id", "step_id", name="uq_deliveries_flow_step"),
        # The dispatcher's only query: due rows by state, so a tick costs O(due), not O(pending).
        Index("ix_deliveries_state_due", "state", "due_at"),
        Index("ix_deliveries_shopper_sent", "shopper_id", "sent_at"),
        # The delivery report: a period's rows by planned time, read from the index alone.
        Index(
            "ix_deliveries_due_report",
            "due_at",
            postgresql_include=REPORT_COLUMNS,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("delivery_flows.id", ondelete="CASCADE"))
    shopper_id: Mapped[int] = mapped_column(ForeignKey("shoppers.id", ondelete="CASCADE"))
    scenario_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(64))
    step_index: Mapped[int]
    template: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str | None] = mapped_column(String(64))
    marketing: Mapped[bool]
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState))
    due_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]  # past this a postponed step is stale and skipped
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    # "line", "email" or "sms": the step's channels say which it may use; chosen at send time.
    channel: Mapped[str] = mapped_column(String(8), default="line", server_default="line")
    # E-mail: the Message-ID; SMS: the provider's message id.
    message_id: Mapped[str | None] = mapped_column(String(255))
    # Committed just before an e-mail or SMS is handed over (see bot.delivery.channels).
    handed_off_at: Mapped[datetime | None]
    # The message as decided at send time carries a coupon (the coupon guard counts these).
    coupon: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Click(Base):
    """A tap on a tracking link in a delivered message."""

    __tablename__ = "delivery_clicks"
    __table_args__ = (Index("ix_delivery_clicks_shopper_at", "shopper_id", "clicked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    shopper_id: Mapped[int | None] = mapped_column(ForeignKey("shoppers.id", ondelete="SET NULL"))
    campaign: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(Text)
    clicked_at: Mapped[datetime]


class TrackedLink(Base):
    """A link target too long to ride in its tracking token, kept under `link_key(url)`."""

    __tablename__ = "tracked_links"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Conversion(Base):
    """An order attributed to the messages (and click) that preceded it."""

    __tablename__ = "delivery_conversions"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(128), unique=True)
    shopper_id: Mapped[int] = mapped_column(ForeignKey("shoppers.id", ondelete="CASCADE"))
    scenario_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int | None]
    delivery_ids: Mapped[list[Any]] = mapped_column(JSON)
    click_id: Mapped[int | None] = mapped_column(
        ForeignKey("delivery_clicks.id", ondelete="SET NULL")
    )
    ordered_at: Mapped[datetime]
    created_at: Mapped[datetime]


class EngineFlag(Base):
    """A named switch with an expiry, e.g. marketing paused after LINE's monthly limit."""

    __tablename__ = "delivery_engine_flags"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    set_at: Mapped[datetime]


class PeriodicRun(Base):
    """When each periodic job (the dispatcher, the sweeps) last finished a run.

    Kept in the database rather than in Redis so that a Redis flush or failover cannot make a
    stopped dispatcher look alive, or a live one look dead.
    """

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime]  # the start of the last run that finished
    finished_at: Mapped[datetime]
