"""E-mail and SMS deliveries: prepared at decision time, marked, handed over, recorded.

Neither SMTP nor the SMS provider has LINE's retry key, so a message handed over twice
would reach the shopper twice. The guarantee is therefore **at most once**: before the batch
hands anything over it commits `handed_off_at` (and the e-mail's Message-ID) on the rows it
is about to send. If the process dies between the hand-off and the write of the outcome,
the lease brings the row back still marked, and the sender records it as failed
("unconfirmed") instead of sending it again. A hand-off that fails in a way that proves
nothing left (no connection, a 4xx before the message, a provider 5xx/429) clears the mark
and is retried like a LINE 5xx; an answer lost after the message was sent is unconfirmed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.core.settings import Settings
from bot.delivery import channel_render, render
from bot.delivery.channels import EMAIL, SMS, Reach, member_of
from bot.delivery.send_rules import BACKOFF_SECONDS, MAX_ATTEMPTS, OUT_OF_TIME, Decision
from bot.delivery.tracking import sign_short
from bot.email import compose
from bot.email.smtp import MailError, MailRejected, MailUnconfirmed
from bot.email.tokens import make_token
from bot.models import Delivery, Shopper
from bot.sms.provider import SmsError, SmsRejected

if TYPE_CHECKING:
    from bot.email.smtp import Mailer
    from bot.sms.provider import SmsProvider

log = logging.getLogger(__name__)

SMS_OPT_OUT = "配信停止は「停止」と返信"
UNCONFIRMED = "unconfirmed"

# Why a mail without an unsubscribe link came (an order's payment, not advertising).
TRANSACTIONAL_NOTE = (
    "このメールはご注文に関する大切なお知らせのため、配信停止の設定にかかわらずお送りしています。"
)


@dataclass
class Handoff:
    """One e-mail or SMS to hand over; `hand_over` fills in the outcome."""

    delivery_id: int
    channel: str
    to: str
    sender: str | None = None  # e-mail: the envelope sender (MAIL FROM)
    email: EmailMessage | None = None
    sms_body: str | None = None
    message_id: str | None = None  # e-mail: set before; SMS: the provider's, after
    sent: bool = False
    error: Exception | None = None
    late: bool = False  # not tried: the batch's time was up
    marked_at: datetime | None = None  # when `mark` wrote handed_off_at

    @property
    def reference(self) -> str:
        return f"delivery:{self.delivery_id}"


def prepare(
    channel: str,
    delivery: Delivery,
    data: Mapping[str, Any],
    *,
    shopper: Shopper,
    reach: Reach,
    settings: Settings,
    links: dict[str, str],
    marketing: bool,
    reason: str | None,
    now: datetime,
) -> Decision:
    """Render the delivery for its channel: a send decision carrying the hand-off, or a
    failure naming the template problem."""
    try:
        if channel == EMAIL:
            assert reach.email is not None
            item = _email(delivery, data, shopper, reach.email, settings, links, marketing, now)
        elif channel == SMS:
            assert reach.phone is not None
            item = _sms(delivery, data, reach.phone, settings, marketing)
        else:
            raise ValueError(f"unknown channel {channel!r}")
    except channel_render.ChannelTemplateError as exc:
        return Decision("fail", f"render ({channel}): {exc}", channel=channel)
    return Decision("send", reason, channel=channel, handoff=item)


def email_footer(settings: Settings, unsubscribe: str | None, marketing: bool) -> dict[str, Any]:
    """The sender's identity every mail ends with, and the unsubscribe link (marketing) or why
    a mail without one came (transactional)."""
    return {
        "shop_name": settings.shop_name,
        "shop_address": settings.shop_address,
        "help_url": settings.help_url,
        "unsubscribe_url": unsubscribe,
        "transactional_note": None if marketing else TRANSACTIONAL_NOTE,
    }


def _email(
    delivery: Delivery,
    data: Mapping[str, Any],
    shopper: Shopper,
    to: str,
    settings: Settings,
    links: dict[str, str],
    marketing: bool,
    now: datetime,
) -> Handoff:
    tracked = render.tracking_linker(delivery, settings, links)
    member = member_of(shopper)
    unsubscribe = None
    if marketing and member is not None:
        token = make_token(settings.secret_key.encode(), member, EMAIL, now)
        unsubscribe = compose.unsubscribe_url(settings, token)
    content = channel_render.render_email(
        delivery.template,
        data,
        link=lambda url: tracked(url, ""),
        footer=email_footer(settings, unsubscribe, marketing),
        tz=settings.tz,
    )
    message_id = compose.message_id(settings, delivery.id)
    message = compose.compose(
        content,
        settings=settings,
        to=to,
        message_id_value=message_id,
        sent_at=now,
        unsubscribe=unsubscribe,
    )
    return Handoff(
        delivery.id,
        EMAIL,
        to,
        sender=compose.envelope_sender(settings),
        email=message,
        message_id=message_id,
    )


def short_link(settings: Settings, delivery_id: int) -> str:
    """The SMS's tracked link: /r/s/<token>, the token naming the delivery."""
    token = sign_short(settings.secret_key.encode(), delivery_id)
    return f"{settings.public_base_url.rstrip('/')}/r/s/{token}"


def _sms(
    delivery: Delivery, data: Mapping[str, Any], to: str, settings: Settings, marketing: bool
) -> Handoff:
    body = channel_render.render_sms(
        delivery.template,
        data,
        link=lambda _url: short_link(settings, delivery.id),
        opt_out=SMS_OPT_OUT if marketing else None,
        tz=settings.tz,
    )
    return Handoff(delivery.id, SMS, to, sms_body=body)


def from_plans(planned: Sequence[Any], now: datetime) -> list[Handoff]:
    """The batch's e-mail and SMS sends, in the batch's order."""
    return [
        p.decision.handoff
        for p in planned
        if p.decision.action == "send" and p.decision.handoff is not None
    ]


def mark(session: Session, handoffs: Sequence[Handoff], now: datetime) -> None:
    """Write the hand-off mark (the caller commits before handing anything over)."""
    for item in handoffs:
        item.marked_at = now
        session.execute(
            update(Delivery)
            .where(Delivery.id == item.delivery_id)
            .values(handed_off_at=now, channel=item.channel, message_id=item.message_id)
            .execution_options(synchronize_session=False)
        )


def hand_over(
    handoffs: Sequence[Handoff],
    *,
    mailer: Callable[[], Mailer] | None,
    sms: Callable[[], SmsProvider] | None,
    deadline: float | None,
    monotonic: Callable[[], float],
    status_callback: str | None = None,
) -> None:
    """Send each e-mail over one SMTP session and each SMS through the provider, in order."""
    session_mailer: Mailer | None = None
    try:
        for item in handoffs:
            if deadline is not None and monotonic() >= deadline:
                item.late = True
                continue
            try:
                if item.channel == EMAIL:
                    assert item.email is not None and item.sender and mailer is not None
                    if session_mailer is None:
                        session_mailer = mailer()
                    session_mailer.send(item.email, item.sender, item.to)
                else:
                    assert item.sms_body is not None and sms is not None
                    sent = sms().send(
                        item.to,
                        item.sms_body,
                        reference=item.reference,
                        status_callback=status_callback,
                    )
                    item.message_id = sent.provider_message_id
                item.sent = True
            except (MailError, SmsError) as exc:
                item.error = exc
            except Exception as exc:
                # Unknown whether it left: treated as unconfirmed, never sent again.
                log.exception("hand-off crashed", extra={"delivery_id": item.delivery_id})
                item.error = MailUnconfirmed(f"hand-off crashed: {type(exc).__name__}: {exc}")
    finally:
        if session_mailer is not None:
            session_mailer.close()


def outcome(item: Handoff, attempts: int, now: datetime) -> tuple[Decision, bool]:
    """What the hand-off leads to, and whether the mark stays (True: it may have gone out)."""
    if item.late:
        return Decision("postpone", OUT_OF_TIME, now, channel=item.channel), False
    exc = item.error
    assert exc is not None
    if isinstance(exc, MailUnconfirmed) or getattr(exc, "maybe_sent", False):
        # The answer was lost after the request went out: it may have been sent.
        return Decision("fail", f"{UNCONFIRMED}: {exc}", channel=item.channel), True
    if isinstance(exc, MailRejected | SmsRejected):
        code = getattr(exc, "code", None)
        label = f"{item.channel} rejected" + (f" ({code})" if code else "")
        return Decision("fail", f"{label}: {exc}", channel=item.channel), False
    if attempts >= MAX_ATTEMPTS:
        return Decision("fail", f"gave up: {exc}", channel=item.channel), False
    wait = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
    reason = f"retrying: {item.channel} {type(exc).__name__}"
    return (
        Decision("postpone", reason, now + timedelta(seconds=wait), channel=item.channel),
        False,
    )


def unconfirmed(delivery: Delivery) -> Decision:
    """A row found still marked as handed over: recorded as failed, never sent again."""
    assert delivery.handed_off_at is not None
    return Decision(
        "fail",
        f"{UNCONFIRMED}: handed to {delivery.channel} at "
        f"{delivery.handed_off_at:%Y-%m-%d %H:%M:%S} UTC, outcome not recorded; "
        "not sent again (at most once)",
        channel=delivery.channel,
    )
