"""The chat shows the bot's messages as LINE draws them: one renderer for the page and its
live updates, everything escaped, stylesheets from the console's own origin, and the alt
text whenever a stored message cannot be drawn."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.console import rendering
from bot.console.security import CONTENT_SECURITY_POLICY
from bot.line.messaging import Messenger
from bot.models import ConversationMessage, Direction, Sender
from tests.helpers.console import shopper
from tests.helpers.html import ParsedHtml

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
RETRY_KEY = "3f0b3f5e-0000-4000-8000-0000000000{:02d}"


class Page(ParsedHtml):
    """Tags with their attributes and the text of a page or fragment."""

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if name in (a.get("class") or "").split()]

    def classes(self) -> set[str]:
        return {c for _, a in self.tags for c in (a.get("class") or "").split()}


def _push(app: Flask, messages: list[dict[str, Any]], n: int = 1) -> None:
    """The bot sends the shopper these messages (logged as the console reads them)."""
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        Messenger(session, services.line, services.clock).push(
            shopper(app), messages, retry_key=RETRY_KEY.format(n)
        )
        session.commit()


def _store(app: Flask, message_type: str, text: str, payload: Any) -> None:
    """An outbound log entry as it may be found in the database, whatever its JSON."""
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        session.add(
            ConversationMessage(
                shopper_id=shopper(app).id,
                direction=Direction.OUTBOUND,
                sender=Sender.BOT,
                message_type=message_type,
                text=text,
                payload=payload,
                status="sent",
                created_at=services.clock.now(),
            )
        )
        session.commit()


def _cart_reminder(app: Flask) -> dict[str, Any]:
    templates = app.extensions["bot"].templates
    return templates.render("cart_reminder", templates.sample("cart_reminder"), marketing=True)


def _assert_strict(source: str) -> None:
    """Nothing the CSP would refuse: no inline script or style, no event handler."""
    parsed = Page(source)
    assert all(attrs.get("src") for tag, attrs in parsed.tags if tag == "script")
    assert not [tag for tag, _ in parsed.tags if tag == "style"]
    for _tag, attrs in parsed.tags:
        assert "style" not in attrs
        assert not [name for name in attrs if name.startswith("on")], attrs


def test_a_cart_reminder_carousel_shows_bubbles_buttons_and_prices(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    _push(app, [_cart_reminder(app)])
    response = as_operator.get(f"/console/tickets/{ticket_id}")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = Page(response.text)
    [carousel] = page.with_class("fx-carousel")
    assert carousel is not None
    assert len(page.with_class("fx-bubble")) == 4  # the summary and three items
    text = "".join(page.text)
    for price in ("¥15,700", "¥2,750", "¥4,400", "¥5,800"):
        assert price in text
    assert "美濃焼 手描き藍染め マグカップ" in text
    assert "お買い物かごを見る" in text and "商品を見る" in text and "配信停止" in text
    # URI buttons are shown, never followed: an operator's tap is not the shopper's click.
    # Hovering one tells where it leads.
    faces = [a for a in page.with_class("fx-btn-face") if a.get("data-action") == "uri"]
    assert len(faces) == 5 and all((a.get("title") or "").startswith("https://") for a in faces)
    assert not [a for tag, a in page.tags if tag == "a" and "fx-action" in (a.get("class") or "")]
    # Its quick reply (配信停止) is shown under it, and its alt text beside it.
    assert page.with_class("fx-quick")
    assert "お買い物かごに商品が残っています" in "".join(page.text)
    # Product pictures of the shop's site are placeholders: the console loads nothing else.
    assert page.with_class("fx-ph") and not [a for tag, a in page.tags if tag == "img"]
    _assert_strict(response.text)


def test_the_page_links_the_stylesheets_its_messages_need(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    _push(app, [_cart_reminder(app)])
    response = as_operator.get(f"/console/tickets/{ticket_id}")
    page = Page(response.text)
    links = {a.get("href") or "" for tag, a in page.tags if tag == "link"}
    assert "/console/flex.css" in links
    [values] = [a for tag, a in page.tags if a.get("id") == "flex-values"]
    query = parse_qs(urlsplit(values["href"] or "").query)["c"][0]
    used = {c for c in page.classes() if c.startswith("fv-")}
    assert used and {f"fv-{name}" for name in query.split(".")} == used
    css = as_operator.get(values["href"])
    assert css.status_code == 200 and css.mimetype == "text/css"
    for name in used:
        assert f".{name}" in css.text
    base = as_operator.get("/console/flex.css")
    assert base.status_code == 200 and ".fx-carousel" in base.text
    assert base.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_the_value_stylesheet_reads_only_colours_and_lengths(as_operator: FlaskClient) -> None:
    css = as_operator.get("/console/flex-values.css?c=c-06c755.w-120px.c-red;}body{x.zz-1")
    assert css.status_code == 200
    lines = css.text.strip().splitlines()
    assert any("#06c755" in line for line in lines) and any("120px" in line for line in lines)
    assert "body" not in css.text and "red" not in css.text


def test_live_updates_carry_the_same_rendered_item(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    before = as_operator.get(f"/console/api/tickets/{ticket_id}/messages").get_json()
    last = before["messages"][-1]["id"]
    _push(app, [_cart_reminder(app)])
    data = as_operator.get(f"/console/api/tickets/{ticket_id}/messages?after={last}").get_json()
    [message] = data["messages"]
    item = Page(message["item"])
    assert item.tags[0][0] == "li" and item.tags[0][1]["data-id"] == str(message["id"])
    assert len(item.with_class("fx-bubble")) == 4
    assert set(message["values"]) == {c[3:] for c in item.classes() if c.startswith("fv-")}
    # The page draws the same item.
    page = as_operator.get(f"/console/tickets/{ticket_id}").text
    assert message["item"] in page
    _assert_strict(message["item"])


def test_hostile_text_in_a_flex_message_is_escaped(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    bubble = {
        "type": "bubble",
        "styles": {"body": {"backgroundColor": "#fff;}body{display:none"}},
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "text", "text": HOSTILE, "color": "red;background:url(x)"},
                {
                    "type": "button",
                    "action": {"type": "uri", "label": HOSTILE[:40], "uri": "javascript:alert(3)"},
                },
                {
                    "type": "button",
                    "action": {"type": "postback", "label": "押す", "data": HOSTILE},
                },
            ],
        },
    }
    message = {"type": "flex", "altText": HOSTILE, "contents": bubble}
    _store(app, "flex", HOSTILE, message)  # as stored: the emulator would refuse to send it
    page = as_operator.get(f"/console/tickets/{ticket_id}")
    api = as_operator.get(f"/console/api/tickets/{ticket_id}/messages").get_json()
    for source in (page.text, api["messages"][-1]["item"]):
        parsed = Page(source)
        assert "<script>alert(1)" not in source and "<img src=x" not in source
        assert HOSTILE in "".join(parsed.text)  # shown as text
        assert not [a for tag, a in parsed.tags if tag == "img"]
        assert "javascript:" not in " ".join(a.get("href") or "" for _, a in parsed.tags)
        # Bad colours give no class at all; every class name is a plain word.
        assert all(re.fullmatch(r"[a-z0-9_-]+", c) for c in parsed.classes())
        assert not [c for c in parsed.classes() if c.startswith("fv-") and "display" in c]
        assert not [c for c in parsed.classes() if c.startswith("fv-") and "red" in c]
        _assert_strict(source)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "壊れたJSON",
        {"type": "flex", "altText": "x"},
        {"type": "flex", "altText": "x", "contents": "壊れた"},
        {"type": "flex", "altText": "x", "contents": {"type": "carousel", "contents": []}},
        {"type": "flex", "altText": "x", "contents": {"type": "carousel", "contents": [1, 2]}},
        {"type": "text", "text": "型が合わない"},
    ],
    ids=[
        "missing",
        "list",
        "string",
        "no-contents",
        "bad-contents",
        "empty",
        "bad-bubbles",
        "type",
    ],
)
def test_a_malformed_stored_message_falls_back_to_its_alt_text(
    app: Flask, as_operator: FlaskClient, ticket_id: int, payload: Any
) -> None:
    _store(app, "flex", "お買い物かごのご案内(代替テキスト)", payload)
    response = as_operator.get(f"/console/tickets/{ticket_id}")
    assert response.status_code == 200
    page = Page(response.text)
    assert "お買い物かごのご案内(代替テキスト)" in "".join(page.text)
    assert not page.with_class("fx-msg")
    api = as_operator.get(f"/console/api/tickets/{ticket_id}/messages")
    assert api.status_code == 200
    assert "お買い物かごのご案内(代替テキスト)" in api.get_json()["messages"][-1]["item"]


def test_a_message_the_renderer_fails_on_falls_back_too(
    app: Flask,
    as_operator: FlaskClient,
    ticket_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reminder = _cart_reminder(app)
    _push(app, [reminder])

    def broken(*_args: Any, **_kwargs: Any) -> str:
        raise RecursionError("a message nested too deep")

    monkeypatch.setattr(rendering, "render_message", broken)
    response = as_operator.get(f"/console/tickets/{ticket_id}")
    assert response.status_code == 200
    assert reminder["altText"] in "".join(Page(response.text).text)
    assert "fx-bubble" not in response.text


def test_the_shoppers_messages_and_plain_texts_stay_as_they_were(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    quick = {
        "items": [
            {"type": "action", "action": {"type": "message", "label": "はい", "text": "はい"}},
            {"type": "action", "action": {"type": "uri", "label": "店", "uri": "https://a.jp"}},
        ]
    }
    _push(app, [{"type": "text", "text": "ご用件をお選びください", "quickReply": quick}])
    page = Page(as_operator.get(f"/console/tickets/{ticket_id}").text)
    assert not page.with_class("fx-msg")  # a text keeps the console's own bubble
    [row] = page.with_class("fx-quick")
    assert row is not None and "はい" in "".join(page.text)
    assert not [a for tag, a in page.tags if tag == "a" and a.get("href") == "https://a.jp"]
    assert "注文した商品がまだ届きません" in "".join(page.text)  # the shopper's own message


def test_images_of_the_consoles_own_origin_are_shown(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    own = "http://localhost/console/static/logo.png"
    bubble = {
        "type": "bubble",
        "hero": {"type": "image", "url": own},
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "image", "url": "https://cdn.example.com/a.png"}],
        },
    }
    _store(app, "flex", "画像", {"type": "flex", "altText": "画像", "contents": bubble})
    page = Page(as_operator.get(f"/console/tickets/{ticket_id}").text)
    assert [a.get("src") for tag, a in page.tags if tag == "img"] == [own]
    assert [a.get("title") for a in page.with_class("fx-ph")] == ["https://cdn.example.com/a.png"]
