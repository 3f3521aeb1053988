"""Building a delivery's e-mail: the MIME parts and the headers mail providers expect."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from urllib.parse import urlsplit

from bot.core.settings import Settings


@dataclass(frozen=True)
class EmailContent:
    """A rendered e-mail: one-line subject, HTML and plain-text parts."""

    subject: str
    html: str
    text: str


def sender_address(settings: Settings) -> str:
    """MAIL_FROM, or the shop's name at noreply@ the bot's host."""
    if settings.mail_from:
        return settings.mail_from
    host = urlsplit(settings.public_base_url).hostname or "localhost"
    return formataddr((settings.shop_name, f"noreply@{host}"))


def envelope_sender(settings: Settings) -> str:
    """The bare address of the sender, for MAIL FROM (bounces go back there)."""
    return parseaddr(sender_address(settings))[1]


def mail_domain(settings: Settings) -> str:
    """The domain of the sender's address (Message-IDs are made under it)."""
    return envelope_sender(settings).rpartition("@")[2] or "localhost"


def message_id(settings: Settings, delivery_id: int) -> str:
    """The delivery's Message-ID: the same on every attempt, not guessable from the id."""
    tag = hmac.new(
        settings.secret_key.encode(), f"message-id:{delivery_id}".encode(), hashlib.sha256
    ).hexdigest()[:16]
    return f"<delivery-{delivery_id}.{tag}@{mail_domain(settings)}>"


def unsubscribe_url(settings: Settings, token: str) -> str:
    """The one-click unsubscribe URL of a token."""
    return f"{settings.public_base_url.rstrip('/')}/email/unsubscribe/{token}"


def compose(
    content: EmailContent,
    *,
    settings: Settings,
    to: str,
    message_id_value: str,
    sent_at: datetime,
    unsubscribe: str | None,
) -> EmailMessage:
    """The message with both parts; with `unsubscribe` (marketing mail), the RFC 8058
    one-click headers."""
    message = EmailMessage()
    message["Subject"] = content.subject
    message["From"] = sender_address(settings)
    message["To"] = Address(addr_spec=to)
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id_value
    if unsubscribe is not None:
        targets = [f"<{unsubscribe}>"]
        if settings.unsubscribe_mailto:
            targets.append(f"<mailto:{settings.unsubscribe_mailto}?subject=unsubscribe>")
        message["List-Unsubscribe"] = ", ".join(targets)
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(content.text, charset="utf-8")
    message.add_alternative(content.html, subtype="html", charset="utf-8")
    return message
