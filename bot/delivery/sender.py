"""Sending a batch of claimed deliveries: read the facts, decide, render, push, record.

A send reads everything fresh (is the cart still unpaid, is the shopper still following and
opted in, not talking to staff, under the daily cap, outside quiet hours) and renders with the
data as it is at that moment. It does so per batch: the rows and everything the decisions need
are read in a handful of set-based queries, the decisions are made in memory (the rules are in
`send_rules`, the rendering in `render`), the pushes go out on a few threads (HTTP only), and
the outcomes are written back in bulk with one commit. The delivery's id is the push's retry
key, so a send repeated after a crash can never reach the shopper twice.

One coherent piece (the batch's reads, its push threads and its bulk write share the rows and
the locking), hence over the usual module size.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, any_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot import consents
from bot.core.clock import Clock
from bot.core.metrics import DELIVERIES, LINE_API_CALLS, MONTHLY_LIMIT
from bot.core.settings import Settings
from bot.delivery import engine as deliveries
from bot.delivery import handoff, multicast, render, segments, send_rules
from bot.delivery.aggregation import UnitBudget, aggregation_unit, process_budget
from bot.delivery.channels import EMAIL, LINE, LINE_ONLY, NO_REACH, SMS, Reach, member_of
from bot.delivery.scenarios import ScenarioBook, Step
from bot.delivery.send_rules import (
    ALREADY_ACCEPTED,
    MONTHLY_LIMIT_RECHECK,
    BatchState,
    Blocked,
    Decision,
    local_day_start,
)
from bot.line.gateway import (
    LineError,
    LineGateway,
    LineMonthlyLimit,
    LineTimeout,
    Message,
    SendResult,
    retry_key_for,
)
from bot.line.messaging import message_summary
from bot.models import (
    BroadcastRecipient,
    Cart,
    ConversationMessage,
    Delivery,
    DeliveryState,
    Direction,
    Flow,
    FlowState,
    Order,
    ProductStock,
    RecipientState,
    Sender,
    Shopper,
    SupportTicket,
    TicketState,
    TrackedLink,
)

if TYPE_CHECKING:
    from bot.email.smtp import Mailer
    from bot.sms.provider import SmsProvider
    from flex_templates import TemplateRegistry

log = logging.getLogger(__name__)

_DELIVERIES = Delivery.__table__
# One statement for every outcome, run as executemany: each row carries all the columns a send
# may change (unchanged ones keep their loaded value), so the parameter sets share one shape.
_WRITE_BACK = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        due_at=bindparam("b_due_at"),
        reason=bindparam("b_reason"),
        attempts=bindparam("b_attempts"),
        claimed_at=bindparam("b_claimed_at"),
        sent_at=bindparam("b_sent_at"),
        line_request_id=bindparam("b_line_request_id"),
        updated_at=bindparam("b_updated_at"),
        channel=bindparam("b_channel"),
        message_id=bindparam("b_message_id"),
        handed_off_at=bindparam("b_handed_off_at"),
        # Decided at send time by a step's branches and the coupon guard (bot.delivery.segments).
        template=bindparam("b_template"),
        variant=bindparam("b_variant"),
        coupon=bindparam("b_coupon"),
    )
)
_LOG_MESSAGES = insert(ConversationMessage.__table__)


@dataclass
class Push:
    """One message to push; a worker thread fills in `result` or `error`."""

    delivery_id: int
    shopper_id: int
    to: str
    message: Message
    marketing: bool
    unit: str | None = None  # LINE's custom aggregation unit (insight figures), if allowed
    result: SendResult | None = None
    error: LineError | None = None
    held: bool = False  # not tried: LINE's monthly limit came back earlier in this batch
    late: bool = False  # not tried: the batch's push window (DELIVERY_BATCH_SECONDS) is over
    started: bool = False  # handed to the gateway
    in_flight: bool = False  # still waiting for LINE's answer when the batch was written


@dataclass
class _Planned:
    """A claimed delivery with its decision; `depends_on` = in-batch pushes it assumed sent."""

    delivery: Delivery
    decision: Decision
    depends_on: tuple[int, ...] = ()


@dataclass
class DeliverySender:
    """Sends a batch of claimed deliveries: decide in memory, push on threads, write in bulk."""

    line: LineGateway
    clock: Clock
    settings: Settings
    book: ScenarioBook
    templates: TemplateRegistry
    postgres: bool = False  # lock the delivery (and shopper) rows; array parameters
    threads: int = 8
    # Pushes start only within this many seconds of the batch's start; the rest go back to
    # pending, due now. With the gateway's timeouts this bounds a batch below the lease.
    batch_seconds: float | None = None
    monotonic: Callable[[], float] = time.monotonic
    # How long the batch waits for pushes still in flight once every other push is done.
    straggler_grace: float = 2.0
    # The month's custom aggregation units (None: pushes carry no unit).
    units: UnitBudget | None = field(default_factory=process_budget)
    # E-mail and SMS (None: the channel is not configured and never chosen).
    mailer_factory: Callable[[], Mailer] | None = None
    sms: Callable[[], SmsProvider] | None = None

    def send(self, session: Session, delivery_ids: Sequence[int]) -> dict[str, int]:
        """Handle a batch of claimed deliveries; returns how many ended in each state."""
        try:
            counts = self._send(session, delivery_ids)
            session.commit()
            return counts
        except Exception:
            session.rollback()
            log.exception("delivery batch crashed", extra={"count": len(delivery_ids)})
            # Left in `sending`: the dispatcher re-claims them after the lease, and the retry
            # key keeps a push that did get through from being shown twice.
            return {"error": len(delivery_ids)}

    def _send(self, session: Session, delivery_ids: Sequence[int]) -> dict[str, int]:
        # Counted from the start: waiting for another batch's shopper locks uses it up too.
        deadline = None if self.batch_seconds is None else self.monotonic() + self.batch_seconds
        claimed = self._claim(session, delivery_ids)
        counts: dict[str, int] = {}
        if len(claimed) < len(delivery_ids):
            # Finished already, or another worker holds them right now.
            counts["gone"] = len(delivery_ids) - len(claimed)
        if not claimed:
            return counts
        now = self.clock.now()
        state = self.load(session, claimed, now)
        planned = [self._plan(delivery, state, now) for delivery in claimed]
        pushes = [
            Push(
                delivery_id=p.delivery.id,
                shopper_id=p.delivery.shopper_id,
                to=state.shoppers[p.delivery.shopper_id].line_user_id or "",
                message=p.decision.message,
                marketing=self._marketing(p.delivery),
            )
            for p in planned
            if p.decision.action == "send"
            and p.decision.handoff is None
            and p.decision.message is not None
        ]
        handoffs = handoff.from_plans(planned, now)
        by_id = {p.delivery.id: p.delivery for p in planned}
        self._assign_units(pushes, by_id, now)
        self._store_links(session, state.new_links, now)
        groups = multicast.form_groups(pushes, by_id, self._step_of)
        multicast.mark(groups, by_id)
        if handoffs or any(not group.resent for group in groups):
            # Committed before any e-mail or SMS leaves: a crash after the hand-off then
            # finds the mark and never sends it again (at most once; bot.delivery.handoff).
            # A multicast group's mark likewise: a crash after it resends the group under
            # the same retry key (bot.delivery.multicast).
            handoff.mark(session, handoffs, now)
            session.commit()
        skipped = {p.delivery.id for p in planned if p.decision.action != "send"}
        multicast.find_recipients(session, groups, skipped)
        self.multicast_all(groups, deadline)
        grouped = {push.delivery_id for group in groups for push in group.pushes}
        self.push_all([push for push in pushes if push.delivery_id not in grouped], deadline)
        handoff.hand_over(
            handoffs, mailer=self.mailer_factory, sms=self.sms, deadline=deadline,
            monotonic=self.monotonic,
        )  # fmt: skip
        self._record(session, planned, {p.delivery_id: p for p in pushes}, state, now, counts)
        return counts

    # -- reading ------------------------------------------------------------------------------

    def _among(
        self, column: InstrumentedAttribute[Any], values: Iterable[Any]
    ) -> ColumnElement[bool]:
        """`column IN values`; on PostgreSQL `= ANY(array)`, one parameter whatever the count.

        The statement text then stays the same from batch to batch, so psycopg and the server
        can cache and prepare it; an IN list renders n placeholders and is parsed every time.
        """
        values = list(values)
        if self.postgres:
            return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
        return column.in_(values)

    def _claim(self, session: Session, delivery_ids: Sequence[int]) -> list[Delivery]:
        """The batch's rows still in `sending`, in due order (locked on PostgreSQL)."""
        query = (
            select(Delivery)
            .where(self._among(Delivery.id, delivery_ids), Delivery.state == DeliveryState.SENDING)
            .order_by(Delivery.due_at, Delivery.id)
        )
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        return list(session.scalars(query))

    def _marketing(self, delivery: Delivery) -> bool:
        return send_rules.is_marketing(delivery, self.book, self.templates)

    def load(self, session: Session, claimed: Sequence[Delivery], now: datetime) -> BatchState:
        """Read what the decisions need for these deliveries, a query per kind of fact."""
        marketing_ids = sorted({d.shopper_id for d in claimed if self._marketing(d)})
        other_ids = sorted({d.shopper_id for d in claimed} - set(marketing_ids))
        shoppers: dict[int, Shopper] = {}
        if marketing_ids:
            query = (
                select(Shopper).where(self._among(Shopper.id, marketing_ids)).order_by(Shopper.id)
            )
            if self.postgres:
                # Two workers must not both decide a shopper is under the daily cap: the
                # second waits here, in id order so two batches cannot deadlock, and its
                # count below (a new snapshot per statement) then sees the first one's sends.
                query = query.with_for_update()
            shoppers.update((s.id, s) for s in session.scalars(query))
        if other_ids:
            shoppers.update(
                (s.id, s)
                for s in session.scalars(select(Shopper).where(self._among(Shopper.id, other_ids)))
            )
        flow_ids = sorted({d.flow_id for d in claimed})
        flows = {
            f.id: f for f in session.scalars(select(Flow).where(self._among(Flow.id, flow_ids)))
        }
        flow_sent = dict(
            session.execute(
                select(Delivery.flow_id, func.count())
                .where(
                    self._among(Delivery.flow_id, flow_ids), Delivery.state == DeliveryState.SENT
                )
                .group_by(Delivery.flow_id)
            ).all()
        )
        with_staff: set[int] = set()
        if marketing_ids:
            with_staff = set(
                session.scalars(
                    select(SupportTicket.shopper_id)
                    .where(
                        self._among(SupportTicket.shopper_id, marketing_ids),
                        SupportTicket.state != TicketState.RESOLVED,
                    )
                    .distinct()
                )
            )
        active = [f for f in flows.values() if f.state is FlowState.ACTIVE]
        cart_ids = sorted({f.context["cart_id"] for f in active if "cart_id" in (f.context or {})})
        order_ids = sorted(
            {f.context["order_id"] for f in active if "order_id" in (f.context or {})}
        )
        carts = (
            {
                c.cart_id: c
                for c in session.scalars(select(Cart).where(self._among(Cart.cart_id, cart_ids)))
            }
            if cart_ids
            else {}
        )
        orders = (
            {
                o.order_id: o
                for o in session.scalars(
                    select(Order).where(self._among(Order.order_id, order_ids))
                )
            }
            if order_ids
            else {}
        )
        skus = sorted(
            {str(sku) for cart in carts.values() for sku in cart.skus or []}
            | {str(f.context["item"].get("sku")) for f in active if "item" in (f.context or {})}
        )
        stock = (
            dict(
                session.execute(
                    select(ProductStock.sku, ProductStock.stock).where(
                        self._among(ProductStock.sku, skus)
                    )
                ).all()
            )
            if skus
            else {}
        )
        return BatchState(
            flows=flows,
            shoppers=shoppers,
            flow_sent=flow_sent,
            marketing_today=self._marketing_today(session, marketing_ids, now),
            with_staff=with_staff,
            paused_until=deliveries.marketing_paused_until(session, now),
            carts=carts,
            orders=orders,
            stock=stock,
            segments=segments.load(
                session, claimed, shoppers, self.book, self._among, self.settings, now
            ),
            reach=self._reach(session, claimed, shoppers),
            channel_today=self._channel_today(session, marketing_ids, now),
            configured=self.configured_channels(),
        )

    def configured_channels(self) -> tuple[str, ...]:
        """The channels this sender can send by: LINE, and e-mail/SMS when configured."""
        return tuple(
            channel
            for channel, on in ((LINE, True), (EMAIL, self.mailer_factory), (SMS, self.sms))
            if on
        )

    def _multi_channel(self, delivery: Delivery) -> bool:
        scenario = self.book.get(delivery.scenario_id)
        step = (
            next((s for s in scenario.steps if s.id == delivery.step_id), None)
            if scenario
            else None
        )
        return step is not None and step.channels != LINE_ONLY

    def _reach(
        self, session: Session, claimed: Sequence[Delivery], shoppers: Mapping[int, Shopper]
    ) -> dict[int, Reach]:
        """Addresses and consents of the shoppers whose steps may go by e-mail or SMS, read
        in three queries for the batch; LINE-only steps read nothing here."""
        members: dict[int, str] = {}
        for shopper_id in sorted({d.shopper_id for d in claimed if self._multi_channel(d)}):
            shopper = shoppers.get(shopper_id)
            member = member_of(shopper) if shopper is not None else None
            if member is not None:
                members[shopper_id] = member
        contacts = consents.contacts_of(session, members.values())
        mailable = [m for m, c in contacts.items() if c.email is not None]
        textable = [m for m, c in contacts.items() if c.phone is not None]
        email_consent = consents.marketing_consents(session, mailable, EMAIL)
        sms_consent = consents.marketing_consents(session, textable, SMS)
        reach: dict[int, Reach] = {}
        for shopper_id, member in members.items():
            contact = contacts.get(member)
            if contact is None:
                reach[shopper_id] = Reach(member_id=member)
                continue
            reach[shopper_id] = Reach(
                member_id=member,
                email=contact.email,
                phone=contact.phone,
                email_ok=contact.email_ok,
                phone_ok=contact.phone_ok,
                email_consent=email_consent.get(member, False),
                sms_consent=sms_consent.get(member, False),
            )
        return reach

    def _channel_today(
        self, session: Session, shopper_ids: Sequence[int], now: datetime
    ) -> dict[tuple[int, str], int]:
        """Marketing e-mails and SMS per shopper and channel since the shop-local midnight."""
        if not shopper_ids or self.configured_channels() == LINE_ONLY:
            return {}
        rows = session.execute(
            select(Delivery.shopper_id, Delivery.channel, func.count())
            .where(
                self._among(Delivery.shopper_id, shopper_ids),
                Delivery.marketing.is_(True),
                Delivery.state == DeliveryState.SENT,
                Delivery.channel != LINE,
                Delivery.sent_at >= local_day_start(now, self.settings),
            )
            .group_by(Delivery.shopper_id, Delivery.channel)
        )
        return {(shopper_id, channel): count for shopper_id, channel, count in rows}

    def _marketing_today(
        self, session: Session, shopper_ids: Sequence[int], now: datetime
    ) -> dict[int, int]:
        """Marketing LINE messages per shopper since the start of the shop-local day (absent =
        none): marketing pushes and broadcasts (一斉配信) alike count towards the cap."""
        if not shopper_ids:
            return {}
        since = local_day_start(now, self.settings)
        rows = session.execute(
            select(Delivery.shopper_id, func.count())
            .where(
                self._among(Delivery.shopper_id, shopper_ids),
                Delivery.marketing.is_(True),
                Delivery.state == DeliveryState.SENT,
                Delivery.channel == LINE,
                Delivery.sent_at >= since,
            )
            .group_by(Delivery.shopper_id)
        )
        counted = {shopper_id: count for shopper_id, count in rows}
        for shopper_id, count in session.execute(
            select(BroadcastRecipient.shopper_id, func.count())
            .where(
                self._among(BroadcastRecipient.shopper_id, shopper_ids),
                BroadcastRecipient.state == RecipientState.SENT,
                BroadcastRecipient.sent_at >= since,
            )
            .group_by(BroadcastRecipient.shopper_id)
        ):
            counted[shopper_id] = counted.get(shopper_id, 0) + count
        return counted

    # -- deciding -----------------------------------------------------------------------------

    def _plan(self, delivery: Delivery, state: BatchState, now: datetime) -> _Planned:
        if delivery.handed_off_at is not None:
            # Handed to the SMTP server or SMS provider by a batch that died before writing
            # the outcome: it may have gone out, so it is never sent again.
            return _Planned(delivery, handoff.unconfirmed(delivery))
        try:
            decision, depends_on = self.decide(delivery, state, now)
        except Exception as exc:
            # A data or code problem in one delivery must not hold up the rest of the batch
            # (left in `sending`, it would come back with them after every lease).
            log.exception("delivery decision crashed", extra={"delivery_id": delivery.id})
            decision, depends_on = Decision("fail", f"error: {type(exc).__name__}: {exc}"), ()
        if decision.channel is None:
            choice = state.chosen.get(delivery.id)
            if choice is not None and choice.channel is not None:
                decision = replace(decision, channel=choice.channel)
            elif decision.action == "send":
                decision = replace(decision, channel=LINE)
        if decision.action == "send":
            # Counted before the push: a later delivery of the same flow or shopper in this
            # batch is decided as if this one went out (and re-checked if it did not).
            state.count_send(delivery, marketing=self._marketing(delivery), now=now)
        return _Planned(delivery, decision, depends_on)

    def decide(
        self, delivery: Delivery, state: BatchState, now: datetime
    ) -> tuple[Decision, tuple[int, ...]]:
        """Every check that must pass right now, then the message rendered for LINE.

        Returns the decision and the in-batch pushes it relies on: a skip for max_messages or
        a postponement for the daily cap that only holds if those earlier pushes went out.
        """
        marketing = self._marketing(delivery)
        checked = send_rules.check(
            delivery, state, self.book, self.settings, now, marketing=marketing
        )
        if isinstance(checked, Blocked):
            return checked.decision, checked.depends_on
        step = checked
        choice = state.chosen.get(delivery.id)
        flow = state.flows[delivery.flow_id]
        moot = send_rules.subject_decision(
            flow.context or {}, step, carts=state.carts, orders=state.orders, stock=state.stock
        )
        if moot is not None:
            return moot, ()
        verdict = segments.decide(delivery, step, state, self.settings, now)
        if verdict.skip is not None:
            return Decision("skip", verdict.skip), verdict.depends_on
        data = render.template_data(
            delivery,
            flow,
            step,
            state.shoppers[delivery.shopper_id],
            self.settings,
            carts=state.carts,
            orders=state.orders,
            stock=state.stock,
        )
        note = "; ".join(n for n in (choice.reason if choice else None, verdict.note) if n)
        if choice is not None and choice.channel != LINE:
            return handoff.prepare(
                choice.channel or "",
                delivery,
                data,
                shopper=state.shoppers[delivery.shopper_id],
                reach=state.reach.get(delivery.shopper_id, NO_REACH),
                settings=self.settings,
                links=state.new_links,
                marketing=marketing,
                reason=note or None,
                now=now,
            ), ()
        if step.multicast:
            # The same message for every shopper of the step (bot.delivery.multicast).
            data.pop("shopper_name", None)
        linker = render.tracking_linker(
            delivery, self.settings, state.new_links, now=now if step.multicast else None
        )
        try:
            message, degraded = render.render_message(
                self.templates, delivery, step, data, link=linker, marketing=marketing
            )
        except Exception as exc:  # TemplateError / TemplateDataError: fix the data, then retry
            return Decision("fail", f"render: {exc}"), ()
        if degraded is not None:
            log.warning(
                "message over LINE's limits: degraded",
                extra={"delivery_id": delivery.id, "reason": degraded},
            )
        return Decision("send", note or None, message=message), ()

    def _store_links(self, session: Session, links: Mapping[str, str], now: datetime) -> None:
        """Keep the targets of this batch's long links (a key seen before is kept as it is)."""
        if not links:
            return
        dialect = postgresql if self.postgres else sqlite
        rows = [{"key": k, "url": u, "created_at": now} for k, u in sorted(links.items())]
        session.execute(dialect.insert(TrackedLink).on_conflict_do_nothing(), rows)

    # -- pushing ------------------------------------------------------------------------------

    def _assign_units(
        self, pushes: Sequence[Push], deliveries_by_id: Mapping[int, Delivery], now: datetime
    ) -> None:
        """Give each push its step's aggregation unit, within the month's unit budget."""
        if self.units is None or not pushes:
            return
        wanted = {
            p.delivery_id: aggregation_unit(d.scenario_id, d.step_id, d.variant)
            for p in pushes
            if (d := deliveries_by_id.get(p.delivery_id)) is not None
        }
        allowed = self.units.allowed(wanted.values(), self.line, now)
        for push in pushes:
            unit = wanted.get(push.delivery_id)
            push.unit = unit if unit in allowed else None

    def _step_of(self, delivery: Delivery) -> Step | None:
        scenario = self.book.get(delivery.scenario_id)
        try:
            return scenario.step(delivery.step_id) if scenario is not None else None
        except KeyError:
            return None

    def multicast_all(self, groups: Sequence[multicast.Group], deadline: float | None) -> None:
        """Send each group as one multicast, in turn (a batch holds one or two at most)."""
        for group in groups:
            if deadline is not None and self.monotonic() >= deadline:
                for push in group.pushes:
                    push.late = True  # due now again, its mark kept: the same key next time
                continue
            first = group.pushes[0]
            for push in group.pushes:
                push.started = True
            try:
                result = self.line.multicast(
                    group.recipients,
                    [first.message],
                    retry_key=group.key,
                    aggregation_unit=first.unit,
                )
            except LineError as exc:
                for push in group.pushes:
                    push.error = exc
            except Exception as exc:  # like a timeout: retried under the same key
                log.exception("multicast crashed", extra={"group": group.key})
                error = LineTimeout(f"multicast crashed: {type(exc).__name__}: {exc}")
                for push in group.pushes:
                    push.error = error
            else:
                for push in group.pushes:
                    push.result = result

    def push_all(self, pushes: Sequence[Push], deadline: float | None = None) -> None:
        """Push on `threads` threads; one shopper's messages go out in order on one thread.

        The threads only talk HTTP through the gateway (thread-safe, keep-alive pool); every
        database read happened before and every write happens after. A push stuck on a slow
        answer ends at the gateway's read timeout and holds up only its own thread; after
        `deadline` (monotonic) no new push starts, so the batch ends in bounded time.
        """
        by_shopper: dict[int, list[Push]] = {}
        for push in pushes:
            by_shopper.setdefault(push.shopper_id, []).append(push)
        monthly_limit = threading.Event()
        stop = threading.Event()  # the batch has been written: start nothing more

        def send_group(group: list[Push]) -> None:
            for push in group:
                if stop.is_set() or (deadline is not None and self.monotonic() >= deadline):
                    push.late = True  # it and the rest of the group go on the next tick
                    continue
                if push.marketing and monthly_limit.is_set():
                    push.held = True  # LINE would refuse it too; it waits like the others
                    continue
                push.started = True
                try:
                    unit = {"aggregation_unit": push.unit} if push.unit else {}
                    push.result = self.line.push(
                        push.to,
                        [push.message],
                        retry_key=retry_key_for("delivery", push.delivery_id),
                        **unit,
                    )
                except LineError as exc:
                    push.error = exc
                    if isinstance(exc, LineMonthlyLimit):
                        monthly_limit.set()
                except Exception as exc:
                    # Unexpected (a gateway bug?): whether LINE got it is unknown, like a
                    # timeout, so it is retried with backoff under the same retry key.
                    log.exception("push crashed", extra={"delivery_id": push.delivery_id})
                    push.error = LineTimeout(f"push crashed: {type(exc).__name__}: {exc}")

        groups = list(by_shopper.values())
        threads = min(self.threads, len(groups))
        if threads <= 1:
            for group in groups:
                send_group(group)
            return
        # Each thread takes the next shopper when it is free: one task per thread rather
        # than a future per shopper, and a slow answer does not hold up a fixed share.
        todo = iter(groups)
        take = threading.Lock()
        drained = threading.Event()  # every shopper has been taken by a thread

        def work() -> None:
            while True:
                with take:
                    group = next(todo, None)
                if group is None:
                    drained.set()
                    return
                send_group(group)

        workers = [
            threading.Thread(target=work, name=f"push-{n}", daemon=True) for n in range(threads)
        ]
        for worker in workers:
            worker.start()
        drained.wait()
        # The batch does not wait out a push stuck on a slow LINE answer (up to the read
        # timeout) once the other threads are done: the rows still in flight stay `sending`
        # and come back after the lease, when the same retry key makes LINE answer 409 if
        # the first push got through. Without this, one stalled push in fifty made every
        # batch last the whole read timeout and a sender fell minutes behind.
        grace_ends = self.monotonic() + self.straggler_grace
        for worker in workers:
            worker.join(max(0.0, grace_ends - self.monotonic()))
        stop.set()
        for push in pushes:
            if push.result is None and push.error is None and not (push.held or push.late):
                if push.started:
                    push.in_flight = True
                else:
                    push.late = True

    # -- recording ----------------------------------------------------------------------------

    def _record(
        self,
        session: Session,
        planned: Sequence[_Planned],
        pushes: Mapping[int, Push],
        state: BatchState,
        now: datetime,
        counts: dict[str, int],
    ) -> None:
        """Write every outcome and the conversation log in bulk (the caller commits once)."""
        logged_at = self.clock.now()
        rows: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        monthly_limit: LineMonthlyLimit | None = None
        sent_any = False
        # The in-batch sends a cap or max_messages verdict relied on: did they go out?
        went_out = {i: push.result is not None for i, push in pushes.items()}
        went_out.update(
            (p.delivery.id, p.decision.handoff.sent)
            for p in planned
            if p.decision.action == "send" and p.decision.handoff is not None
        )
        for plan in planned:
            delivery, decision = plan.delivery, plan.decision
            if decision.action == "send" and decision.handoff is not None:
                rows.append(self._handed(delivery, decision, now))
                if rows[-1]["b_state"] is DeliveryState.SENT:
                    counts["sent"] = counts.get("sent", 0) + 1
                continue
            push = pushes.get(delivery.id)
            if push is None:
                if plan.depends_on and not all(went_out.get(i, False) for i in plan.depends_on):
                    decision = send_rules.recheck(now)
                rows.append(self._outcome(delivery, decision, now))
                continue
            if push.in_flight:
                counts["in_flight"] = counts.get("in_flight", 0) + 1
                continue  # left `sending`: the lease brings it back (see push_all)
            if push.held or push.late:
                outcome = send_rules.not_tried(now, held=push.held)
                rows.append(self._outcome(delivery, outcome, now))
                continue
            attempts = delivery.attempts + 1
            kind, text = message_summary(push.message)
            log_row = {
                "shopper_id": delivery.shopper_id,
                "direction": Direction.OUTBOUND,
                "sender": Sender.BOT,
                "message_type": kind,
                "text": text,
                "payload": push.message,
                "webhook_event_id": None,
                "delivery_id": delivery.id,
                "staff_id": None,
                "line_request_id": None,
                "status": "sent",
                "error": None,
                "created_at": logged_at,
            }
            if push.result is not None:
                result = push.result
                LINE_API_CALLS.labels("push", "duplicate" if result.duplicate else "ok").inc()
                if not result.duplicate:
                    messages.append({**log_row, "line_request_id": result.request_id})
                sent_any = True
                rows.append(
                    self._row(
                        delivery,
                        state=DeliveryState.SENT,
                        attempts=attempts,
                        sent_at=now,
                        line_request_id=result.request_id,
                        reason=ALREADY_ACCEPTED if result.duplicate else decision.reason,
                        claimed_at=None,
                        updated_at=now,
                        channel=LINE,
                    )
                )
                counts["sent"] = counts.get("sent", 0) + 1
                DELIVERIES.labels("sent").inc()
                continue
            exc = push.error
            assert exc is not None
            LINE_API_CALLS.labels(
                "push", str(exc.status) if exc.status else type(exc).__name__
            ).inc()
            messages.append({**log_row, "status": "failed", "error": str(exc)})
            outcome = send_rules.after_push_error(exc, attempts, now)
            if isinstance(exc, LineMonthlyLimit):
                monthly_limit = exc
                # Not the message's fault: its retries are not used up.
                rows.append(self._outcome(delivery, outcome, now))
            else:
                rows.append(self._outcome(delivery, outcome, now, attempts=attempts))
        for row in rows:
            key = row["b_state"].value
            if key != "sent":
                counts[key] = counts.get(key, 0) + 1
        session.execute(_WRITE_BACK, rows)
        if messages:
            session.execute(_LOG_MESSAGES, messages)
        if monthly_limit is not None:
            until = now + MONTHLY_LIMIT_RECHECK
            deliveries.pause_marketing(session, until, str(monthly_limit), now)
            MONTHLY_LIMIT.set(1)
            log.error(
                "LINE monthly message limit reached: marketing paused",
                extra={"until": until.isoformat()},
            )
        elif sent_any and state.paused_until is not None:
            # A push went through, so LINE's monthly limit no longer applies.
            deliveries.clear_marketing_pause(session)
            MONTHLY_LIMIT.set(0)
            log.warning("LINE accepts pushes again: marketing resumed")

    def _handed(self, delivery: Delivery, decision: Decision, now: datetime) -> dict[str, Any]:
        """The row of an e-mail or SMS after its hand-off (see bot.delivery.handoff)."""
        item: handoff.Handoff = decision.handoff
        if item.sent:
            DELIVERIES.labels("sent").inc()
            return self._row(
                delivery,
                state=DeliveryState.SENT,
                attempts=delivery.attempts + 1,
                sent_at=now,
                reason=decision.reason,
                claimed_at=None,
                updated_at=now,
                channel=item.channel,
                message_id=item.message_id,
                handed_off_at=None,
            )
        attempts = delivery.attempts if item.late else delivery.attempts + 1
        outcome, keep_mark = handoff.outcome(item, attempts, now)
        if item.error is not None:
            log.warning(
                "hand-off failed",
                extra={
                    "delivery_id": delivery.id,
                    "channel": item.channel,
                    "reason": outcome.reason,
                },
            )
        row = self._outcome(delivery, outcome, now, attempts=attempts)
        row.update(
            b_channel=item.channel,
            b_message_id=item.message_id,
            b_handed_off_at=item.marked_at if keep_mark else None,
        )
        return row

    def _outcome(
        self, delivery: Delivery, decision: Decision, now: datetime, *, attempts: int | None = None
    ) -> dict[str, Any]:
        """The row values for a delivery that was not (or could not be) sent."""
        attempts = delivery.attempts if attempts is None else attempts
        if decision.action == "postpone":
            assert decision.due_at is not None
            return self._row(
                delivery,
                state=DeliveryState.PENDING,
                due_at=decision.due_at,
                reason=decision.reason,
                attempts=attempts,
                claimed_at=None,
                updated_at=now,
            )
        state = {
            "skip": DeliveryState.SKIPPED,
            "cancel": DeliveryState.CANCELLED,
            "fail": DeliveryState.FAILED,
        }[decision.action]
        DELIVERIES.labels(state.value).inc()
        log.info(
            "delivery not sent",
            extra={"delivery_id": delivery.id, "state": state.value, "reason": decision.reason},
        )
        return self._row(
            delivery,
            state=state,
            reason=decision.reason,
            attempts=attempts,
            claimed_at=None,
            updated_at=now,
            channel=decision.channel or delivery.channel or LINE,
        )

    @staticmethod
    def _row(delivery: Delivery, **changes: Any) -> dict[str, Any]:
        values = {
            "state": delivery.state,
            "due_at": delivery.due_at,
            "reason": delivery.reason,
            "attempts": delivery.attempts,
            "claimed_at": delivery.claimed_at,
            "sent_at": delivery.sent_at,
            "line_request_id": delivery.line_request_id,
            "updated_at": delivery.updated_at,
            "template": delivery.template,
            "variant": delivery.variant,
            "coupon": bool(delivery.coupon),
            "channel": delivery.channel or LINE,
            "message_id": delivery.message_id,
            "handed_off_at": delivery.handed_off_at,
            **changes,
        }
        return {"b_id": delivery.id, **{f"b_{k}": v for k, v in values.items()}}
