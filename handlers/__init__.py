"""LINE event handlers; importing this package registers every route."""

from handlers import account_link, consent, follow, message, postback  # noqa: F401
from handlers import linking  # noqa: F401
from handlers import faq  # noqa: F401
from handlers import support  # noqa: F401
from handlers import deliveries  # noqa: F401
from handlers.registry import HandlerContext, find_handler, route, route_key, routes

__all__ = ["HandlerContext", "find_handler", "route", "route_key", "routes"]
