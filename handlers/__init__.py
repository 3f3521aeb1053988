"""Where LINE events go: one table from an event's route key to the feature function that
handles it. Nothing registers itself on import: `bot.app.create_app` builds the app's
`Router` from this table with `build_router`.

A route key is the event type with a postback action or message type (`("postback",
"optout")`, `("message", "text")`), or the event type alone for its catch-all. Events from
groups and rooms key on the source (`("group", "message")`). Event types neither routed here
nor in `bot.line.routing.IGNORED_ON_PURPOSE` are stored, ignored and logged as unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.delivery import survey
from bot.faq import handlers as faq
from bot.line import chat_handlers as chats
from bot.line.routing import Handler, RouteKey, Router, chat_routes, event_route
from bot.linking import account_link
from bot.linking import handlers as linking
from bot.shoppers import consent, follow
from bot.shoppers.service import get_or_create_shopper
from bot.support import handlers as support
from bot.support.escalation import note_shopper_activity
from bot.support.satisfaction import CSAT_ACTION
from handlers import message, postback

ROUTES: tuple[tuple[Sequence[RouteKey], Handler], ...] = (
    # Who is listening
    ([event_route("follow")], follow.handle_follow),
    ([event_route("unfollow")], follow.handle_unfollow),
    # What shoppers say: commands, the FAQ, anything else kept for staff
    ([event_route("message", "text")], message.handle_text),
    ([event_route("message")], message.handle_other_message),
    ([event_route("unsend")], message.handle_unsend),
    # Menu buttons and quick replies (typed commands reach the same functions)
    ([event_route("postback", "optout")], consent.handle_postback_optout),
    ([event_route("postback", "optin")], consent.handle_postback_optin),
    ([event_route("postback", "link")], linking.handle_postback_link),
    ([event_route("postback", "unlink")], linking.handle_postback_unlink),
    ([event_route("postback", "faq_pick")], faq.handle_postback_faq_pick),
    ([event_route("postback", "faq_feedback")], faq.handle_postback_faq_feedback),
    ([event_route("postback", "human")], faq.handle_postback_human),
    ([event_route("postback", CSAT_ACTION)], support.handle_postback_csat),
    ([event_route("postback", survey.CART_SURVEY_ACTION)], survey.handle_postback_cart_survey),
    ([event_route("postback")], postback.handle_unknown_postback),
    # Member linking
    ([event_route("accountLink")], account_link.handle_account_link),
    # Chat control (standby) and groups and rooms, which the bot leaves
    ([event_route("activated")], chats.handle_activated),
    ([event_route("deactivated")], chats.handle_deactivated),
    (chat_routes("leave"), chats.handle_left_chat),
    (chat_routes(), chats.handle_chat_event),
)


def build_router() -> Router:
    """The app's router: this table, and the shoppers and support hooks the dispatcher runs."""
    return Router.build(
        ROUTES, shopper_for=get_or_create_shopper, on_activity=note_shopper_activity
    )
