"""The bot's messages in a console chat as the shopper saw them in LINE.

One renderer draws them everywhere (`flex_templates.html`): here it turns a stored outbound
message into markup, and the console serves the renderer's stylesheets from its own origin
(`/console/flex.css`, and `/console/flex-values.css?c=...` for the value classes), so the
chat keeps its strict CSP: no inline style or script, images only from its own origin.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Blueprint, Response, request

from bot.models import ConversationMessage, Direction
from flex_templates.html import (
    ImageSource,
    base_stylesheet,
    no_images,
    render_message,
    render_quick_replies,
    same_origin_images,
)
from flex_templates.html_styles import value_stylesheet

log = logging.getLogger(__name__)

MAX_VALUES_QUERY = 16000  # characters of ?c= read by the value stylesheet


def register(bp: Blueprint) -> None:
    """Add the stylesheet routes to the console blueprint."""
    bp.get("/flex.css")(flex_css)
    bp.get("/flex-values.css")(flex_values)


def rendered_message(
    message: ConversationMessage, image_src: ImageSource = no_images
) -> tuple[str, str] | None:
    """(message markup, quick-reply markup) of an outbound message, from its stored JSON.

    The markup comes from the one Flex renderer, which escapes every text; URI buttons are
    shown, not followed (an operator's tap must not count as the shopper's click). Text
    messages keep the console's own bubble ('' as markup) and show only their quick
    replies. None for the shopper's messages and whenever the stored JSON is missing or
    cannot be drawn: the chat then shows the alt text kept beside it.
    """
    if message.direction is not Direction.OUTBOUND:
        return None
    payload = message.payload
    if not isinstance(payload, Mapping) or payload.get("type") != message.message_type:
        return None
    if message.message_type == "flex" and not _drawable(payload.get("contents")):
        return None
    try:
        body = (
            ""
            if message.message_type == "text"
            else render_message(payload, image_src=image_src, links=False)
        )
        quick = render_quick_replies(payload, links=False)
    except Exception:  # a stored message the renderer cannot read must not break the chat
        log.warning("stored message not rendered", extra={"message_id": message.id}, exc_info=True)
        return None
    if not body and not quick:
        return None
    return body, quick


def _drawable(container: object) -> bool:
    """A Flex container with something to draw: a bubble, or a carousel of bubbles."""
    if not isinstance(container, Mapping):
        return False
    if container.get("type") == "bubble":
        return True
    bubbles = container.get("contents")
    return (
        container.get("type") == "carousel"
        and isinstance(bubbles, list)
        and bool(bubbles)
        and all(isinstance(b, Mapping) and b.get("type") == "bubble" for b in bubbles)
    )


def pictures() -> ImageSource:
    """Images of the console's own origin are shown; any other is the renderer's placeholder
    (the page never reaches another site)."""
    return same_origin_images(request.host_url)


def flex_css() -> Response:
    """The Flex renderer's fixed stylesheet (public, as the static files are)."""
    return Response(base_stylesheet(), mimetype="text/css")


def flex_values() -> Response:
    """CSS for the value classes named in `c` (dot-separated names without `fv-`), computed
    from the names alone: nothing inline is needed under the console's CSP."""
    names = request.args.get("c", "")[:MAX_VALUES_QUERY].split(".")
    return Response(value_stylesheet(f"fv-{n}" for n in names if n), mimetype="text/css")
