"""Sending a broadcast: start within quota, decide per shopper, multicast in stored batches.

A run of the sender:

1. takes the broadcast (a lease on its row, so one sender at a time);
2. starts it if it is still scheduled: the month's remaining quota must cover the opted-in
   audience, or it is refused with the reason; the audience is stored as recipient rows;
3. sends again every batch stored as queued by a run that died before recording LINE's
   answer, with the same retry key: LINE answers 409 for a batch it had accepted, which
   counts as sent, so no batch reaches a shopper twice;
4. decides the due recipients a chunk at a time with the engine's marketing rules
   (`bot.broadcast.rules` over `bot.delivery.send_rules`: consent, following, chat with
   staff, quiet hours, the daily cap, LINE's monthly-limit pause): skipped, deferred to a
   later time (quiet hours: the morning), or queued. Queued recipients are cut into batches
   of up to 500, and the batches are stored (recipients and number) before the first
   request goes out;
5. sends each batch as one multicast whose `X-Line-Retry-Key` derives from (broadcast,
   batch number); a 5xx or timeout is retried with the same key; LINE's monthly limit stops
   the broadcast and marks the rest as not sent; another 4xx fails the batch.

A personalised broadcast (a template with the shopper's name) pushes per shopper instead,
with a retry key per recipient. Every request carries the broadcast's custom aggregation unit
(LINE's opens and taps, fetched daily by `bot.delivery.insights`) while the month's unit
budget allows it, the same budget as scenario pushes; past it the message goes out without.
Deferred recipients make the broadcast due again at the earliest deferral; it is done when
every recipient has an outcome.

One coherent piece (its runs, batches and resends share the stored state and the lease),
hence over the usual module size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from bot.broadcast import audience, rules
from bot.broadcast.compose import ComposeError, parse_segment, render_template
from bot.broadcast.rules import among
from bot.broadcast.service import locked
from bot.core.clock import Clock
from bot.core.settings import Settings
from bot.delivery.aggregation import UnitBudget, broadcast_unit, process_budget
from bot.delivery.send_rules import ALREADY_ACCEPTED
from bot.line.gateway import (
    MULTICAST_MAX_RECIPIENTS,
    LineError,
    LineGateway,
    LineMonthlyLimit,
    SendResult,
    retry_key_for,
)
from bot.line.messaging import message_summary
from bot.models import (
    Broadcast,
    BroadcastBatch,
    BroadcastBatchState,
    BroadcastRecipient,
    BroadcastState,
    ConversationMessage,
    Direction,
    RecipientState,
    Sender,
    Shopper,
)

if TYPE_CHECKING:
    from flex_templates import TemplateRegistry

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # renewed with every chunk; a dead sender's lease runs out
CHUNK = 5000  # recipients decided and sent per transaction
INSERT_CHUNK = 5000
RETRY_WAITS = (1.0, 4.0)  # seconds before a batch's second and third try (5xx, timeout)
RETRY_LATER = timedelta(minutes=1)  # a batch still failing: the next run tries it again
QUOTA_UNKNOWN_RECHECK = timedelta(minutes=5)
MONTHLY_LIMIT_TEXT = "LINEの今月の送信上限に達したため、送信されませんでした。"
QUOTA_UNKNOWN_TEXT = "LINEの送信数を確認できないため、開始を待っています。"


def batch_retry_key(broadcast_id: int, number: int) -> str:
    """The batch's X-Line-Retry-Key: the same for every run that sends this batch."""
    return retry_key_for("broadcast-batch", f"{broadcast_id}:{number}")


def recipient_retry_key(recipient_id: int) -> str:
    """A personalised push's X-Line-Retry-Key."""
    return retry_key_for("broadcast-recipient", recipient_id)


@dataclass
class _Outcome:
    """What LINE said to one request (a batch, or a personalised push)."""

    result: SendResult | None = None
    error: LineError | None = None
    attempts: int = 0


@dataclass
class BroadcastSender:
    """Runs a broadcast as far as it can go now (see the module's description)."""

    line: LineGateway
    clock: Clock
    settings: Settings
    templates: TemplateRegistry
    sleep: Callable[[float], None] = time.sleep
    threads: int = 4
    batch_size: int = MULTICAST_MAX_RECIPIENTS
    chunk: int = CHUNK
    # The month's custom aggregation units, shared with scenario pushes (None: no unit).
    units: UnitBudget | None = field(default_factory=process_budget)

    def run(self, session: Session, broadcast_id: int) -> dict[str, int]:
        """Send what is due; returns counts of this run (sent, skipped, deferred, ...)."""
        counts: dict[str, int] = {}
        broadcast = self._take(session, broadcast_id)
        if broadcast is None:
            return counts
        # A crash below leaves the lease on: it runs out, and the dispatcher hands the
        # broadcast to a sender again, which carries on from what was stored.
        if broadcast.state is BroadcastState.SENDING or self._start(session, broadcast):
            stopped = self._resend_queued(session, broadcast, counts)
            while not stopped:
                due = self._due(session, broadcast)
                if not due:
                    break
                stopped = self._decide_and_send(session, broadcast, due, counts)
            self._finish(session, broadcast)
        broadcast.lease_until = None
        session.commit()
        log.info("broadcast run", extra={"broadcast_id": broadcast_id, "counts": counts})
        return counts

    # -- taking and starting ------------------------------------------------------------------

    def _take(self, session: Session, broadcast_id: int) -> Broadcast | None:
        """The broadcast with this run's lease on it, or None (not due, or held by another)."""
        now = self.clock.now()
        broadcast = locked(session, broadcast_id)
        if broadcast is None or broadcast.state not in (
            BroadcastState.SCHEDULED,
            BroadcastState.SENDING,
        ):
            session.commit()
            return None
        held = broadcast.lease_until is not None and broadcast.lease_until > now
        early = broadcast.state is BroadcastState.SCHEDULED and broadcast.scheduled_at > now
        if held or early:
            session.commit()
            return None
        broadcast.lease_until = now + LEASE
        broadcast.updated_at = now
        session.commit()
        return broadcast

    def _start(self, session: Session, broadcast: Broadcast) -> bool:
        """Check the quota and store the audience; False if it did not start."""
        now = self.clock.now()
        try:
            condition = parse_segment(broadcast.segment)
        except ComposeError as exc:  # checked when composed; a later release may read it otherwise
            self._refuse(broadcast, str(exc), None, now)
            return False
        members = audience.members(session, condition, self.settings, now)
        needed = sum(1 for m in members if m.opted_in)
        try:
            quota = self.line.message_quota()
        except LineError as exc:
            log.warning("broadcast: quota unknown", extra={"broadcast_id": broadcast.id})
            broadcast.reason = f"{QUOTA_UNKNOWN_TEXT}（{exc}）"
            broadcast.next_due_at = now + QUOTA_UNKNOWN_RECHECK
            return False
        check = audience.QuotaCheck.of(quota, needed)
        refusal = check.refusal()
        if refusal is not None:
            self._refuse(broadcast, refusal, len(members), now)
            return False
        rows = [
            {
                "broadcast_id": broadcast.id,
                "shopper_id": m.shopper_id,
                "state": RecipientState.PENDING,
                "due_at": now,
                "updated_at": now,
            }
            for m in members
        ]
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(BroadcastRecipient), rows[start : start + INSERT_CHUNK])
        broadcast.state = BroadcastState.SENDING
        broadcast.audience = len(members)
        broadcast.started_at = now
        broadcast.reason = None
        broadcast.lease_until = now + LEASE
        session.commit()  # the audience is fixed before anything is sent
        return True

    @staticmethod
    def _refuse(broadcast: Broadcast, reason: str, selected: int | None, now: datetime) -> None:
        broadcast.state = BroadcastState.REFUSED
        broadcast.reason = reason
        broadcast.audience = selected
        broadcast.next_due_at = None
        broadcast.finished_at = now
        log.warning("broadcast refused", extra={"broadcast_id": broadcast.id, "reason": reason})

    # -- what is due ------------------------------------------------------------------------

    def _due(self, session: Session, broadcast: Broadcast) -> list[BroadcastRecipient]:
        now = self.clock.now()
        return list(
            session.scalars(
                select(BroadcastRecipient)
                .where(
                    BroadcastRecipient.broadcast_id == broadcast.id,
                    BroadcastRecipient.state.in_((RecipientState.PENDING, RecipientState.DEFERRED)),
                    BroadcastRecipient.due_at <= now,
                )
                .order_by(BroadcastRecipient.id)
                .limit(self.chunk)
            )
        )

    # -- deciding and sending -------------------------------------------------------------

    def _decide_and_send(
        self,
        session: Session,
        broadcast: Broadcast,
        due: Sequence[BroadcastRecipient],
        counts: dict[str, int],
    ) -> bool:
        """Decide a chunk of due recipients, store the batches, send them; True if stopped."""
        now = self.clock.now()
        ids = [r.shopper_id for r in due]
        shoppers = {
            s.id: s for s in session.scalars(select(Shopper).where(among(session, Shopper.id, ids)))
        }
        state = rules.facts(session, ids, self.settings, now)
        queued: list[BroadcastRecipient] = []
        for recipient in due:
            shopper = shoppers.get(recipient.shopper_id)
            verdict = rules.decide(shopper, state, self.settings, now)
            if verdict is None:
                assert shopper is not None
                state.marketing_today[shopper.id] = state.marketing_today.get(shopper.id, 0) + 1
                queued.append(recipient)
                continue
            new_state, reason, due_at = verdict
            recipient.state = new_state
            recipient.reason = reason
            if due_at is not None:
                recipient.due_at = due_at
            recipient.updated_at = now
            counts[new_state.value] = counts.get(new_state.value, 0) + 1
        if broadcast.personalised:
            for recipient in queued:
                recipient.state = RecipientState.QUEUED
                recipient.updated_at = now
            broadcast.lease_until = now + LEASE
            session.commit()
            return self._push_each(session, broadcast, queued, shoppers, counts)
        batches = self._store_batches(session, broadcast, queued, now)
        broadcast.lease_until = now + LEASE
        session.commit()  # batches and their recipients are fixed before any request
        users = {s.id: s.line_user_id for s in shoppers.values()}
        to_send = [(number, [users[r.shopper_id] for r in members]) for number, members in batches]
        return self._multicast(session, broadcast, to_send, counts)

    def _store_batches(
        self,
        session: Session,
        broadcast: Broadcast,
        queued: Sequence[BroadcastRecipient],
        now: datetime,
    ) -> list[tuple[int, list[BroadcastRecipient]]]:
        last = session.scalar(
            select(func.max(BroadcastBatch.number)).where(
                BroadcastBatch.broadcast_id == broadcast.id
            )
        )
        number = last or 0
        batches = []
        for start in range(0, len(queued), self.batch_size):
            number += 1
            members = list(queued[start : start + self.batch_size])
            for recipient in members:
                recipient.state = RecipientState.QUEUED
                recipient.batch = number
                recipient.updated_at = now
            session.add(
                BroadcastBatch(
                    broadcast_id=broadcast.id,
                    number=number,
                    state=BroadcastBatchState.QUEUED,
                    size=len(members),
                    updated_at=now,
                )
            )
            batches.append((number, members))
        return batches

    def _resend_queued(
        self, session: Session, broadcast: Broadcast, counts: dict[str, int]
    ) -> bool:
        """Requests stored by an earlier run whose answer was never recorded: sent again with
        their own retry keys. True if LINE's monthly limit stopped the broadcast."""
        if broadcast.personalised:
            queued = list(
                session.scalars(
                    select(BroadcastRecipient)
                    .where(
                        BroadcastRecipient.broadcast_id == broadcast.id,
                        BroadcastRecipient.state == RecipientState.QUEUED,
                    )
                    .order_by(BroadcastRecipient.id)
                )
            )
            if not queued:
                return False
            ids = [r.shopper_id for r in queued]
            shoppers = {
                s.id: s
                for s in session.scalars(select(Shopper).where(among(session, Shopper.id, ids)))
            }
            return self._push_each(session, broadcast, queued, shoppers, counts)
        numbers = list(
            session.scalars(
                select(BroadcastBatch.number)
                .where(
                    BroadcastBatch.broadcast_id == broadcast.id,
                    BroadcastBatch.state == BroadcastBatchState.QUEUED,
                )
                .order_by(BroadcastBatch.number)
            )
        )
        if not numbers:
            return False
        rows = session.execute(
            select(BroadcastRecipient.batch, Shopper.line_user_id)
            .join(Shopper, Shopper.id == BroadcastRecipient.shopper_id)
            .where(
                BroadcastRecipient.broadcast_id == broadcast.id,
                among(session, BroadcastRecipient.batch, numbers),
            )
            .order_by(BroadcastRecipient.id)
        )
        members: dict[int, list[str]] = {n: [] for n in numbers}
        for number, user_id in rows:
            members[number].append(user_id)
        log.info(
            "broadcast: resending stored batches",
            extra={"broadcast_id": broadcast.id, "batches": len(numbers)},
        )
        return self._multicast(session, broadcast, list(members.items()), counts)

    def _call(self, send: Callable[[], SendResult]) -> _Outcome:
        """One request with its in-run retries (5xx, timeouts: the same retry key)."""
        outcome = _Outcome()
        for attempt in range(len(RETRY_WAITS) + 1):
            outcome.attempts += 1
            try:
                outcome.result = send()
                outcome.error = None
                return outcome
            except LineError as exc:
                outcome.error = exc
                if isinstance(exc, LineMonthlyLimit) or not exc.retriable:
                    return outcome
                if attempt < len(RETRY_WAITS):
                    self.sleep(max(RETRY_WAITS[attempt], exc.retry_after or 0.0))
            except Exception as exc:  # a gateway bug: LINE may have it, like a timeout
                log.exception("broadcast request crashed")
                outcome.error = LineError(f"request crashed: {type(exc).__name__}: {exc}")
                return outcome
        return outcome

    def _unit(self, broadcast: Broadcast) -> str | None:
        """The broadcast's aggregation unit if this month's unit budget allows it, else None
        (the message still goes out; only its opens and taps go uncounted)."""
        if self.units is None:
            return None
        unit = broadcast_unit(broadcast.id)
        allowed = self.units.allowed([unit], self.line, self.clock.now())
        return unit if unit in allowed else None

    def _multicast(
        self,
        session: Session,
        broadcast: Broadcast,
        batches: Sequence[tuple[int, list[str]]],
        counts: dict[str, int],
    ) -> bool:
        """Send the stored batches (a few at a time) and record each answer."""
        message = dict(broadcast.message)
        unit = self._unit(broadcast)

        def send(batch: tuple[int, list[str]]) -> _Outcome:
            number, users = batch
            key = batch_retry_key(broadcast.id, number)
            return self._call(
                lambda: self.line.multicast(users, [message], retry_key=key, aggregation_unit=unit)
            )

        stopped = False
        for start in range(0, len(batches), self.threads):
            group = batches[start : start + self.threads]
            if len(group) == 1 or self.threads <= 1:
                outcomes = [send(b) for b in group]
            else:
                with ThreadPoolExecutor(max_workers=len(group)) as pool:
                    outcomes = list(pool.map(send, group))
            now = self.clock.now()
            for (number, _users), outcome in zip(group, outcomes, strict=True):
                stopped = (
                    self._record_batch(session, broadcast, number, outcome, now, counts) or stopped
                )
            broadcast.lease_until = now + LEASE
            session.commit()
            if stopped:
                break
        if stopped:
            self._stop(session, broadcast)
        return stopped

    def _log_batch(
        self,
        session: Session,
        broadcast: Broadcast,
        number: int,
        request_id: str | None,
        now: datetime,
    ) -> None:
        """The batch in each shopper's conversation log (what staff see in the chat): one
        INSERT … SELECT, the message by its notification text (the broadcast keeps it whole)."""
        kind, text = message_summary(broadcast.message)
        columns = ConversationMessage.__table__.c
        values = {
            "direction": literal(Direction.OUTBOUND, columns.direction.type),
            "sender": literal(Sender.BOT, columns.sender.type),
            "message_type": literal(kind),
            "text": literal(text),
            "line_request_id": literal(request_id, columns.line_request_id.type),
            "status": literal("sent"),
            "created_at": literal(now, columns.created_at.type),
        }
        rows = select(BroadcastRecipient.shopper_id, *values.values()).where(
            BroadcastRecipient.broadcast_id == broadcast.id, BroadcastRecipient.batch == number
        )
        session.execute(insert(ConversationMessage).from_select(["shopper_id", *values], rows))

    def _record_batch(
        self,
        session: Session,
        broadcast: Broadcast,
        number: int,
        outcome: _Outcome,
        now: datetime,
        counts: dict[str, int],
    ) -> bool:
        """Write one batch's answer to it and its recipients; True on LINE's monthly limit."""
        batch = session.scalar(
            select(BroadcastBatch).where(
                BroadcastBatch.broadcast_id == broadcast.id, BroadcastBatch.number == number
            )
        )
        assert batch is not None
        batch.attempts += outcome.attempts
        batch.updated_at = now
        members = (
            update(BroadcastRecipient)
            .where(
                BroadcastRecipient.broadcast_id == broadcast.id,
                BroadcastRecipient.batch == number,
                BroadcastRecipient.state == RecipientState.QUEUED,
            )
            .execution_options(synchronize_session=False)
        )
        if outcome.result is not None:
            result = outcome.result
            batch.state = BroadcastBatchState.ACCEPTED
            batch.line_request_id = result.request_id
            n = session.execute(
                members.values(
                    state=RecipientState.SENT,
                    sent_at=now,
                    line_request_id=result.request_id,
                    reason=ALREADY_ACCEPTED if result.duplicate else None,
                    updated_at=now,
                )
            ).rowcount
            counts["sent"] = counts.get("sent", 0) + n
            counts["requests"] = counts.get("requests", 0) + 1
            self._log_batch(session, broadcast, number, result.request_id, now)
            return False
        exc = outcome.error
        assert exc is not None
        batch.error = str(exc)[:500]
        if isinstance(exc, LineMonthlyLimit):
            batch.state = BroadcastBatchState.NOT_SENT
            session.execute(
                members.values(
                    state=RecipientState.NOT_SENT, reason=MONTHLY_LIMIT_TEXT, updated_at=now
                )
            )
            return True
        if exc.retriable:
            # Still failing after the in-run retries: stays queued with its key; the next
            # run (the dispatcher, in a minute) sends it again.
            broadcast.next_due_at = now + RETRY_LATER
            counts["retry_later"] = counts.get("retry_later", 0) + 1
            return False
        batch.state = BroadcastBatchState.FAILED
        n = session.execute(
            members.values(
                state=RecipientState.FAILED,
                reason=f"LINE {exc.status}: {exc}"[:500],
                updated_at=now,
            )
        ).rowcount
        counts["failed"] = counts.get("failed", 0) + n
        return False

    def _push_each(
        self,
        session: Session,
        broadcast: Broadcast,
        queued: Sequence[BroadcastRecipient],
        shoppers: dict[int, Shopper],
        counts: dict[str, int],
    ) -> bool:
        """A personalised broadcast: one push per shopper, each with its own retry key."""
        assert broadcast.template is not None
        data = dict(broadcast.template_data or {})

        messages: dict[int, dict[str, Any]] = {}  # recipient id → the message rendered
        unit = self._unit(broadcast)

        def send(recipient: BroadcastRecipient) -> _Outcome:
            shopper = shoppers[recipient.shopper_id]
            try:
                message = render_template(
                    self.templates,
                    broadcast.template or "",
                    broadcast.template_variant,
                    data,
                    shopper.display_name,
                )
            except Exception as exc:  # the template changed since it was composed
                return _Outcome(error=LineError(f"render: {exc}", status=None))
            messages[recipient.id] = message
            key = recipient_retry_key(recipient.id)
            return self._call(
                lambda: self.line.push(
                    shopper.line_user_id, [message], retry_key=key, aggregation_unit=unit
                )
            )

        stopped = False
        with ThreadPoolExecutor(max_workers=max(1, self.threads)) as pool:
            outcomes = list(pool.map(send, queued))
        now = self.clock.now()
        for recipient, outcome in zip(queued, outcomes, strict=True):
            recipient.updated_at = now
            if outcome.result is not None:
                recipient.state = RecipientState.SENT
                recipient.sent_at = now
                recipient.line_request_id = outcome.result.request_id
                recipient.reason = ALREADY_ACCEPTED if outcome.result.duplicate else None
                if messages.get(recipient.id) is not None:
                    kind, text = message_summary(messages[recipient.id])
                    session.add(
                        ConversationMessage(
                            shopper_id=recipient.shopper_id,
                            direction=Direction.OUTBOUND,
                            sender=Sender.BOT,
                            message_type=kind,
                            text=text,
                            payload=messages[recipient.id],
                            line_request_id=outcome.result.request_id,
                            status="sent",
                            created_at=now,
                        )
                    )
                counts["sent"] = counts.get("sent", 0) + 1
                counts["requests"] = counts.get("requests", 0) + 1
                continue
            exc = outcome.error
            assert exc is not None
            if isinstance(exc, LineMonthlyLimit):
                recipient.state = RecipientState.NOT_SENT
                recipient.reason = MONTHLY_LIMIT_TEXT
                stopped = True
            elif exc.retriable:
                broadcast.next_due_at = now + RETRY_LATER  # stays queued, same key next run
            else:
                recipient.state = RecipientState.FAILED
                recipient.reason = f"LINE {exc.status}: {exc}"[:500]
                counts["failed"] = counts.get("failed", 0) + 1
        broadcast.lease_until = now + LEASE
        session.commit()
        if stopped:
            self._stop(session, broadcast)
        return stopped

    # -- ending ---------------------------------------------------------------------------

    def _stop(self, session: Session, broadcast: Broadcast) -> None:
        """LINE's monthly limit: nothing more goes out; every open recipient is not sent."""
        now = self.clock.now()
        session.execute(
            update(BroadcastRecipient)
            .where(
                BroadcastRecipient.broadcast_id == broadcast.id,
                BroadcastRecipient.state.in_(
                    (RecipientState.PENDING, RecipientState.DEFERRED, RecipientState.QUEUED)
                ),
            )
            .values(state=RecipientState.NOT_SENT, reason=MONTHLY_LIMIT_TEXT, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(BroadcastBatch)
            .where(
                BroadcastBatch.broadcast_id == broadcast.id,
                BroadcastBatch.state == BroadcastBatchState.QUEUED,
            )
            .values(state=BroadcastBatchState.NOT_SENT, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        broadcast.state = BroadcastState.STOPPED
        broadcast.reason = MONTHLY_LIMIT_TEXT
        broadcast.next_due_at = None
        broadcast.finished_at = now
        broadcast.updated_at = now
        log.error("broadcast stopped: LINE monthly limit", extra={"broadcast_id": broadcast.id})

    def _finish(self, session: Session, broadcast: Broadcast) -> None:
        """Done when nobody is left; else due again at the earliest deferral (or retry)."""
        if broadcast.state is not BroadcastState.SENDING:
            return
        now = self.clock.now()
        open_rows = session.execute(
            select(BroadcastRecipient.state, func.min(BroadcastRecipient.due_at))
            .where(
                BroadcastRecipient.broadcast_id == broadcast.id,
                BroadcastRecipient.state.in_(
                    (RecipientState.PENDING, RecipientState.DEFERRED, RecipientState.QUEUED)
                ),
            )
            .group_by(BroadcastRecipient.state)
        ).all()
        broadcast.updated_at = now
        if not open_rows:
            broadcast.state = BroadcastState.DONE
            broadcast.finished_at = now
            broadcast.next_due_at = None
            return
        # Deferred recipients are due at their time; a queued batch that still failed after
        # its retries is tried again shortly.
        candidates = [
            due for state, due in open_rows if RecipientState(state) is not RecipientState.QUEUED
        ]
        if len(candidates) < len(open_rows):
            candidates.append(now + RETRY_LATER)
        broadcast.next_due_at = min(candidates)
