"""Every table of the service; import this module to register them all."""

from bot.models.core import (
    ConversationMessage,
    Direction,
    FollowState,
    Sender,
    Shopper,
    WebhookEvent,
    WebhookEventState,
)
from bot.models.support import SupportTicket, TicketReason, TicketState

__all__ = [
    "ConversationMessage",
    "Direction",
    "FollowState",
    "Sender",
    "Shopper",
    "SupportTicket",
    "TicketReason",
    "TicketState",
    "WebhookEvent",
    "WebhookEventState",
]
