"""Render LINE messages as HTML: text, Flex bubbles and carousels, quick replies and actions.

One renderer for every place that shows a message as a shopper sees it (the playground, the
template preview page). It follows LINE's Flex layout rules (flex-message-layout in LINE's
documentation) with the classes of `flex.css`; free values go through the value classes of
`html_styles`. It is one coherent thing, a component per function, hence its length.

Safety: every text and attribute is escaped; the markup has only `class`, `dir`, `href`,
`title`, `rel`, `target`, `type`, `role`, `tabindex`, `aria-*` and `data-*` attributes, never a
`style` or an event handler, so it works under `script-src 'self'; style-src 'self'`. A URI
action becomes a link only for http(s), line: and tel: URIs, and never with `links=False`
(a page where a tap must not count as the shopper's click, such as the operator console:
the URI is shown on hover instead). Images are shown only when `image_src` maps their URL to
a local address; otherwise a placeholder of the same size, so viewing a message never
reaches the network.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flex_templates.html_styles import (
    angle_class,
    color_class,
    length_class,
    number_class,
    ratio_class,
    value_classes_in,
    value_stylesheet,
)

STYLESHEET = Path(__file__).resolve().parent / "flex.css"
LINK_SCHEMES = ("http", "https", "line", "tel")
SPACING = ("none", "xs", "sm", "md", "lg", "xl", "xxl")
TEXT_SIZES = ("xxs", "xs", "sm", "md", "lg", "xl", "xxl", "3xl", "4xl", "5xl")
IMAGE_SIZES = (*TEXT_SIZES, "full")
BUBBLE_SIZES = ("nano", "micro", "deca", "hecto", "kilo", "mega", "giga")
BORDER_WIDTHS = ("none", "light", "normal", "medium", "semi-bold", "bold")
ALIGN = {"start": "start", "end": "end", "center": "center"}
GRAVITY = {"top": "top", "bottom": "bottom", "center": "center"}
JUSTIFY = ("flex-start", "center", "flex-end", "space-between", "space-around", "space-evenly")
ALIGN_ITEMS = ("flex-start", "center", "flex-end")

ImageSource = Callable[[str], str | None]


def no_images(_url: str) -> str | None:
    """The default image policy: every image is a placeholder (no network at view time)."""
    return None


def same_origin_images(origin: str) -> ImageSource:
    """Show images served under `origin` (e.g. `http://127.0.0.1:8000`), placeholders else."""
    prefix = origin.rstrip("/") + "/"

    def source(url: str) -> str | None:
        return url if url.startswith(prefix) and _plain(url) else None

    return source


@dataclass(frozen=True)
class RenderedHtml:
    """Markup of one or more messages and the value classes its stylesheet must cover."""

    html: str

    @property
    def value_classes(self) -> list[str]:
        """Value classes used in the markup (the query of a value stylesheet link)."""
        return value_classes_in(self.html)

    def value_css(self) -> str:
        """The CSS of those value classes (`flex.css` holds everything else)."""
        return value_stylesheet(self.value_classes)


def base_stylesheet() -> str:
    """The fixed stylesheet of rendered messages (flex.css)."""
    return STYLESHEET.read_text(encoding="utf-8")


def render_messages(
    messages: Iterable[Mapping[str, Any]],
    *,
    image_src: ImageSource = no_images,
    links: bool = True,
) -> RenderedHtml:
    """Each message as LINE shows it in a chat, in order (quick replies not included)."""
    renderer = _Renderer(image_src, links)
    return RenderedHtml("".join(renderer.message(m) for m in messages))


def render_message(
    message: Mapping[str, Any], *, image_src: ImageSource = no_images, links: bool = True
) -> str:
    """One message's markup."""
    return _Renderer(image_src, links).message(message)


def render_quick_replies(message: Mapping[str, Any], *, links: bool = True) -> str:
    """The quick-reply buttons of a message (LINE shows them under the last message only)."""
    quick = message.get("quickReply") if isinstance(message, Mapping) else None
    items = quick.get("items") if isinstance(quick, Mapping) else None
    if not isinstance(items, list) or not items:
        return ""
    buttons = []
    for item in items:
        action = item.get("action") if isinstance(item, Mapping) else None
        if not isinstance(action, Mapping):
            continue
        label = _text(action.get("label")) or _text(action.get("type"))
        buttons.append(_action_control(action, "fx-qr", _esc(label), tag="button", links=links))
    inner = "".join(buttons)
    return f'<div class="fx-quick" role="group" aria-label="クイックリプライ">{inner}</div>'


# -- helpers ---------------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(_text(value), quote=True)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _plain(url: str) -> bool:
    """No white space or control characters anywhere (LINE percent-encodes them)."""
    return bool(url) and all(ch.isprintable() and not ch.isspace() for ch in url)


def safe_link(uri: object) -> str | None:
    """The URI if a browser may open it as a link (http, https, line, tel); None otherwise."""
    if not isinstance(uri, str) or not _plain(uri) or len(uri) > 2000:
        return None
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError:
        return None
    return uri if scheme in LINK_SCHEMES else None


def _classes(*names: str | None) -> str:
    return " ".join(n for n in names if n)


def _keyword(prefix: str, value: object, allowed: Iterable[str]) -> str | None:
    return f"{prefix}-{value}" if isinstance(value, str) and value in allowed else None


def _size(prefix: str, value: object, allowed: Iterable[str], prop: str) -> str | None:
    """A keyword class (`fx-ts-sm`) or a value class (`fv-fs-13px`) for a size property."""
    return _keyword(prefix, value, allowed) or length_class(prop, value)


def _action_attrs(action: Mapping[str, Any]) -> str:
    """data-* attributes describing an action, for the page's script (escaped)."""
    kind = _text(action.get("type"))
    attrs = [f'data-action="{_esc(kind)}"']
    if kind == "postback":
        attrs.append(f'data-data="{_esc(action.get("data"))}"')
        shown = action.get("displayText") or action.get("text")
        if shown:
            attrs.append(f'data-display-text="{_esc(shown)}"')
    elif kind == "message":
        attrs.append(f'data-text="{_esc(action.get("text"))}"')
    elif kind == "uri":
        attrs.append(f'data-uri="{_esc(action.get("uri"))}"')
        if safe_link(action.get("uri")) is None:
            attrs.append('data-blocked="true"')
    elif kind == "datetimepicker":
        attrs.append(f'data-data="{_esc(action.get("data"))}"')
        attrs.append(f'data-mode="{_esc(action.get("mode"))}"')
    return " ".join(attrs)


def _action_control(
    action: Mapping[str, Any], css: str, inner: str, *, tag: str, links: bool = True
) -> str:
    """A clickable control for an action: a link for safe URIs, a button otherwise."""
    attrs = _action_attrs(action)
    label = _esc(action.get("label"))
    title = f' title="{label}"' if label else ""
    if action.get("type") == "uri":
        link = safe_link(action.get("uri"))
        if link is not None and not links:
            # Shown, not followed: hovering tells where it leads.
            return f'<span class="{css} fx-action" title="{_esc(link)}" {attrs}>{inner}</span>'
        if link is not None:
            return (
                f'<a class="{css} fx-action" href="{_esc(link)}" target="_blank" '
                f'rel="noopener noreferrer"{title} {attrs}>{inner}</a>'
            )
        return f'<span class="{css} fx-action fx-blocked"{title} {attrs}>{inner}</span>'
    if tag == "button":
        return f'<button type="button" class="{css} fx-action"{title} {attrs}>{inner}</button>'
    return f'<span class="{css} fx-action" role="button" tabindex="0"{title} {attrs}>{inner}</span>'


def _tappable(component: Mapping[str, Any], links: bool = True) -> tuple[str | None, str]:
    """(class, attributes) for a component with an `action` (box, image, text, bubble)."""
    action = component.get("action")
    if not isinstance(action, Mapping):
        return None, ""
    attrs = _action_attrs(action)
    link = safe_link(action.get("uri")) if action.get("type") == "uri" and links else None
    if link is not None:
        attrs += f' data-href="{_esc(link)}"'
    label = action.get("label")
    if label:
        attrs += f' title="{_esc(label)}"'
    return "fx-tap fx-action", f' role="button" tabindex="0" {attrs}'


def _common(component: Mapping[str, Any]) -> list[str | None]:
    """Classes every component may have: flex, margin, position, offsets, gravity."""
    flex = component.get("flex")
    margin = component.get("margin")
    return [
        number_class("f", flex) if isinstance(flex, int) and not isinstance(flex, bool) else None,
        _keyword("fx-m", margin, SPACING) or length_class("m", margin),
        "fx-abs" if component.get("position") == "absolute" else None,
        *(
            _keyword(f"fx-o{side}", component.get(key), SPACING)
            or length_class(f"o{side}", component.get(key))
            for side, key in (
                ("t", "offsetTop"),
                ("b", "offsetBottom"),
                ("s", "offsetStart"),
                ("e", "offsetEnd"),
            )
        ),
        _keyword("fx-gr", component.get("gravity"), GRAVITY),
        _keyword("fx-al", component.get("align"), ALIGN),
    ]


class _Renderer:
    """Renders components recursively; `image_src` decides which images are shown, `links`
    whether URI actions are links."""

    def __init__(self, image_src: ImageSource, links: bool = True) -> None:
        self.image_src = image_src
        self.links = links

    # -- messages ------------------------------------------------------------------------

    def message(self, message: Mapping[str, Any]) -> str:
        if not isinstance(message, Mapping):
            return ""
        kind = message.get("type")
        sender = message.get("sender")
        name = sender.get("name") if isinstance(sender, Mapping) else None
        head = f'<div class="fx-sender">{_esc(name)}</div>' if name else ""
        if kind == "text":
            body = f'<div class="fx-textmsg">{_esc(message.get("text"))}</div>'
        elif kind == "flex":
            body = self.container(message.get("contents"))
        else:
            alt = message.get("altText") or message.get("text") or ""
            body = f'<div class="fx-textmsg fx-other">[{_esc(kind)}] {_esc(alt)}</div>'
        alt_attr = f' data-alt="{_esc(message.get("altText"))}"' if kind == "flex" else ""
        return f'<div class="fx-msg fx-msg-{_esc(kind)}"{alt_attr}>{head}{body}</div>'

    def container(self, container: object) -> str:
        if not isinstance(container, Mapping):
            return '<div class="fx-textmsg fx-other">(empty)</div>'
        if container.get("type") == "carousel":
            bubbles = container.get("contents")
            inner = "".join(self.bubble(b) for b in (bubbles if isinstance(bubbles, list) else []))
            return f'<div class="fx-carousel">{inner}</div>'
        return f'<div class="fx-single">{self.bubble(container)}</div>'

    def bubble(self, bubble: object) -> str:
        if not isinstance(bubble, Mapping):
            return ""
        size = bubble.get("size") if bubble.get("size") in BUBBLE_SIZES else "mega"
        direction = "rtl" if bubble.get("direction") == "rtl" else "ltr"
        styles = bubble.get("styles") if isinstance(bubble.get("styles"), Mapping) else {}
        blocks = [
            (name, bubble.get(name))
            for name in ("header", "hero", "body", "footer")
            if isinstance(bubble.get(name), Mapping)
        ]
        parts = []
        for index, (name, block) in enumerate(blocks):
            style = styles.get(name) if isinstance(styles.get(name), Mapping) else {}
            separator = bool(style.get("separator")) and index > 0
            css = _classes(
                "fx-block",
                f"fx-{name}",
                "fx-has-footer" if name == "body" and bubble.get("footer") else None,
                "fx-block-sep" if separator else None,
                color_class("bg", style.get("backgroundColor")),
                color_class("sc", style.get("separatorColor")) if separator else None,
            )
            inner = self.component(block, top=True)
            parts.append(f'<div class="{css}">{inner}</div>')
        tap_css, tap_attrs = _tappable(bubble, self.links)
        css = _classes("fx-bubble", f"fx-{size}", tap_css)
        return f'<div class="{css}" dir="{direction}"{tap_attrs}>{"".join(parts)}</div>'

    # -- components ----------------------------------------------------------------------

    def component(self, component: object, *, top: bool = False) -> str:
        if not isinstance(component, Mapping):
            return ""
        kind = component.get("type")
        render = {
            "box": self.box,
            "text": self.text,
            "image": self.image,
            "button": self.button,
            "icon": self.icon,
            "separator": self.separator,
            "spacer": self.spacer,
            "filler": self.filler,
            "video": self.video,
        }.get(kind if isinstance(kind, str) else "")
        if render is None:
            return ""
        return render(component, top) if kind == "box" else render(component)

    def box(self, box: Mapping[str, Any], top: bool = False) -> str:
        layout = {"vertical": "fx-v", "horizontal": "fx-h", "baseline": "fx-b"}.get(
            _text(box.get("layout")), "fx-v"
        )
        spacing = box.get("spacing")
        background = box.get("background")
        gradient: list[str | None] = []
        if isinstance(background, Mapping) and background.get("type") == "linearGradient":
            gradient = [
                "fx-gradient",
                angle_class("ga", background.get("angle")),
                color_class("gs", background.get("startColor")),
                color_class("ge", background.get("endColor")),
                color_class("gc", background.get("centerColor")),
                "fx-gradient-3" if background.get("centerColor") else None,
            ]
        padding = [
            _keyword(f"fx-p{side}", box.get(key), SPACING) or length_class(f"p{side}", box.get(key))
            for side, key in (
                ("a", "paddingAll"),
                ("t", "paddingTop"),
                ("b", "paddingBottom"),
                ("s", "paddingStart"),
                ("e", "paddingEnd"),
            )
        ]
        tap_css, tap_attrs = _tappable(box, self.links)
        justify = box.get("justifyContent")
        items = box.get("alignItems")
        css = _classes(
            "fx-box",
            layout,
            "fx-top" if top else None,
            _keyword("fx-sp", spacing, SPACING) or length_class("sp", spacing),
            f"fx-jc-{justify}" if justify in JUSTIFY else None,
            f"fx-ai-{items}" if items in ALIGN_ITEMS else None,
            color_class("bg", box.get("backgroundColor")),
            color_class("bc", box.get("borderColor")),
            _keyword("fx-bw", box.get("borderWidth"), BORDER_WIDTHS)
            or length_class("bw", box.get("borderWidth")),
            _keyword("fx-cr", box.get("cornerRadius"), SPACING)
            or length_class("cr", box.get("cornerRadius")),
            length_class("w", box.get("width")),
            length_class("mw", box.get("maxWidth")),
            length_class("h", box.get("height")),
            length_class("mh", box.get("maxHeight")),
            *padding,
            *gradient,
            *([] if top else _common(box)),
            tap_css,
        )
        contents = box.get("contents")
        inner = "".join(
            self.component(child) for child in (contents if isinstance(contents, list) else [])
        )
        return f'<div class="{css}"{tap_attrs}>{inner}</div>'

    def _text_style(self, component: Mapping[str, Any]) -> list[str | None]:
        decoration = component.get("decoration")
        return [
            _size("fx-ts", component.get("size"), TEXT_SIZES, "fs"),
            "fx-bold" if component.get("weight") == "bold" else None,
            "fx-italic" if component.get("style") == "italic" else None,
            f"fx-deco-{decoration}" if decoration in ("underline", "line-through") else None,
            color_class("c", component.get("color")),
        ]

    def text(self, component: Mapping[str, Any]) -> str:
        max_lines = component.get("maxLines")
        clamp = isinstance(max_lines, int) and not isinstance(max_lines, bool) and max_lines > 0
        tap_css, tap_attrs = _tappable(component, self.links)
        css = _classes(
            "fx-text",
            *(["fx-ts-md"] if component.get("size") is None else []),
            *self._text_style(component),
            "fx-wrap" if component.get("wrap") is True else None,
            "fx-clamp" if clamp and component.get("wrap") is True else None,
            number_class("ml", max_lines) if clamp and component.get("wrap") is True else None,
            length_class("ls", component.get("lineSpacing")),
            "fx-line-gap" if length_class("ls", component.get("lineSpacing")) else None,
            *_common(component),
            tap_css,
        )
        spans = component.get("contents")
        if isinstance(spans, list) and spans:
            inner = "".join(self.span(span) for span in spans)
        else:
            inner = _esc(component.get("text"))
        return f'<div class="{css}"{tap_attrs}><p class="fx-t">{inner}</p></div>'

    def span(self, span: object) -> str:
        if not isinstance(span, Mapping) or span.get("type") != "span":
            return ""
        css = _classes("fx-span", *self._text_style(span))
        return f'<span class="{css}">{_esc(span.get("text"))}</span>'

    def _picture(self, url: object, css: str) -> str:
        source = self.image_src(url) if isinstance(url, str) and _plain(url) else None
        if source is not None:
            return f'<img class="{css}" src="{_esc(source)}" alt="" loading="lazy">'
        try:
            host = urlsplit(url).hostname if isinstance(url, str) else None
        except ValueError:
            host = None
        label = _esc(host or "画像なし")
        return f'<span class="{css} fx-ph" title="{_esc(url)}"><span>{label}</span></span>'

    def image(self, component: Mapping[str, Any]) -> str:
        size = component.get("size", "md")
        ratio = ratio_class("ar", component.get("aspectRatio"))
        tap_css, tap_attrs = _tappable(component, self.links)
        css = _classes(
            "fx-image",
            _keyword("fx-is", size, IMAGE_SIZES) or length_class("is", size) or "fx-is-md",
            "fx-cover" if component.get("aspectMode") == "cover" else None,
            ratio or "fx-ar-1",
            color_class("bg", component.get("backgroundColor")),
            *_common(component),
            tap_css,
        )
        picture = self._picture(component.get("url"), "fx-img")
        return f'<div class="{css}"{tap_attrs}><div class="fx-img-frame">{picture}</div></div>'

    def icon(self, component: Mapping[str, Any]) -> str:
        css = _classes(
            "fx-icon",
            _size("fx-ts", component.get("size", "md"), TEXT_SIZES, "fs") or "fx-ts-md",
            ratio_class("ar", component.get("aspectRatio")),
            *_common(component),
        )
        picture = self._picture(component.get("url"), "fx-icon-img")
        return f'<div class="{css}"><span class="fx-icon-face">{picture}</span></div>'

    def button(self, component: Mapping[str, Any]) -> str:
        style = component.get("style")
        style = style if style in ("primary", "secondary", "link") else "link"
        action = component.get("action")
        action = action if isinstance(action, Mapping) else {}
        css = _classes(
            "fx-btn",
            f"fx-btn-{style}",
            "fx-btn-sm" if component.get("height") == "sm" else None,
            color_class("btn", component.get("color")),
            *_common(component),
        )
        face = f'<span class="fx-btn-label">{_esc(action.get("label"))}</span>'
        control = _action_control(action, "fx-btn-face", face, tag="button", links=self.links)
        return f'<div class="{css}">{control}</div>'

    def separator(self, component: Mapping[str, Any]) -> str:
        css = _classes("fx-sep", color_class("sc", component.get("color")), *_common(component))
        return f'<div class="{css}" role="separator"></div>'

    def spacer(self, component: Mapping[str, Any]) -> str:
        size = component.get("size", "md")
        css = _classes("fx-spacer", _keyword("fx-spc", size, SPACING) or length_class("spc", size))
        return f'<div class="{css}"></div>'

    def filler(self, component: Mapping[str, Any]) -> str:
        return f'<div class="{_classes("fx-filler", *_common(component))}"></div>'

    def video(self, component: Mapping[str, Any]) -> str:
        alt = component.get("altContent")
        inner = self.component(alt) if isinstance(alt, Mapping) else ""
        return f'<div class="fx-video" title="動画">{inner}</div>'
