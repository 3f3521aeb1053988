"""LINE event handlers; importing this package registers every route."""

from handlers import (  # noqa: F401
    account_link,
    chats,
    consent,
    deliveries,  # noqa: F401
    faq,  # noqa: F401
    follow,
    linking,  # noqa: F401
    message,
    postback,
    support,  # noqa: F401
)
from handlers.registry import HandlerContext, find_handler, route, route_key, routes

__all__ = ["HandlerContext", "find_handler", "route", "route_key", "routes"]
