"""Why a ticket action cannot be done: errors carrying the Japanese text for the console."""

from __future__ import annotations


class TicketError(Exception):
    """A ticket action that cannot be done; the message is Japanese, for the console."""


class TicketForbidden(TicketError):
    """The operator may not act on this ticket (not the owner and not an admin)."""


class TicketConflict(TicketError):
    """The ticket changed meanwhile (already claimed, resolved or transferred)."""
