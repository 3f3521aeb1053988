"""Per-element values of rendered Flex messages as CSS classes, and the stylesheet for them.

A strict Content-Security-Policy (`style-src 'self'`) forbids `style` attributes and inline
`<style>` elements, so the HTML renderer never writes a value into markup. Keyword values
(`size: "sm"`, `spacing: "md"`) are fixed classes of `flex.css`; every free value (a colour,
a pixel size, a flex ratio, an aspect ratio) becomes a *value class* whose name encodes the
value, e.g. `fv-c-06c755` (text colour #06C755) or `fv-w-120px` (width 120px). The CSS for
any set of value classes is computed from the names alone (`value_stylesheet`), so a page
can link a same-origin stylesheet such as `/…/flex-values.css?c=fv-c-06c755.fv-w-120px`
and no server state is needed. A name is decoded strictly (hex digits, digits, `px`/`pct`):
whatever a query string holds, only colours and lengths can come out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PREFIX = "fv-"
MAX_CLASSES = 400

_COLOR = re.compile(r"^#([0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?)$")
_LENGTH = re.compile(r"^(\d{1,4}(?:\.\d{1,2})?)(px|%)$")
_RATIO = re.compile(r"^(\d{1,4}(?:\.\d{1,2})?):(\d{1,4}(?:\.\d{1,2})?)$")
_ANGLE = re.compile(r"^(\d{1,3}(?:\.\d{1,2})?)deg$")

_ENC_COLOR = re.compile(r"^[0-9a-f]{6}(?:[0-9a-f]{2})?$")
_ENC_LENGTH = re.compile(r"^(\d{1,4}(?:_\d{1,2})?)(px|pct)$")
_ENC_NUMBER = re.compile(r"^\d{1,4}(?:_\d{1,2})?$")
_ENC_RATIO = re.compile(r"^(\d{1,4}(?:_\d{1,2})?)-(\d{1,4}(?:_\d{1,2})?)$")
_CLASS = re.compile(r"^fv-([a-z]{1,4})-([0-9a-z_-]{1,24})$")

# Kinds of value, and the properties that take each: property code → CSS rule template(s).
# `{v}` is the decoded value; `{c}` the class selector. Margin and flex depend on the parent
# box's orientation (they act along its main axis), hence one rule per orientation.
COLOR_RULES: dict[str, tuple[str, ...]] = {
    "c": ("{c}{{color:{v}}}",),
    "bg": ("{c}{{background-color:{v}}}",),
    "bc": ("{c}{{border-color:{v}}}",),
    "sc": ("{c}{{border-color:{v}}}",),  # separator and block separator colour
    "btn": (  # a button's colour: background of primary/secondary, text of link buttons
        ".fx-btn-primary{c} .fx-btn-face,.fx-btn-secondary{c} .fx-btn-face{{background-color:{v}}}",
        ".fx-btn-link{c} .fx-btn-face{{color:{v}}}",
    ),
    "gs": ("{c}{{--fx-g-start:{v}}}",),
    "gc": ("{c}{{--fx-g-center:{v}}}",),
    "ge": ("{c}{{--fx-g-end:{v}}}",),
}
LENGTH_RULES: dict[str, tuple[str, ...]] = {
    "w": ("{c}{{width:{v};flex-basis:auto}}",),
    "mw": ("{c}{{max-width:{v}}}",),
    "h": ("{c}{{height:{v}}}",),
    "mh": ("{c}{{max-height:{v}}}",),
    "fs": ("{c}{{font-size:{v}}}",),
    "is": ("{c} .fx-img-frame{{width:{v}}}",),  # image width
    "pa": (".fx-box{c}{{padding:{v}}}",),
    "pt": (".fx-box{c}{{padding-top:{v}}}",),
    "pb": (".fx-box{c}{{padding-bottom:{v}}}",),
    "ps": (".fx-box{c}{{padding-inline-start:{v}}}",),
    "pe": (".fx-box{c}{{padding-inline-end:{v}}}",),
    "m": (
        ".fx-v>{c}{{margin-top:{v}}}",
        ".fx-h>{c},.fx-b>{c}{{margin-inline-start:{v}}}",
    ),
    "sp": (
        ".fx-v{c}>*+*{{margin-top:{v}}}",
        ".fx-h{c}>*+*,.fx-b{c}>*+*{{margin-inline-start:{v}}}",
    ),
    "spc": (".fx-v>{c}{{height:{v}}}", ".fx-h>{c},.fx-b>{c}{{width:{v}}}"),  # spacer
    "cr": ("{c}{{border-radius:{v}}}",),
    "bw": ("{c}{{border-width:{v};border-style:solid}}",),
    "ot": ("{c}{{top:{v}}}",),
    "ob": ("{c}{{bottom:{v}}}",),
    "os": ("{c}{{inset-inline-start:{v}}}",),
    "oe": ("{c}{{inset-inline-end:{v}}}",),
    "ls": ("{c}{{--fx-line-gap:{v}}}",),  # text lineSpacing
}
NUMBER_RULES: dict[str, tuple[str, ...]] = {
    # LINE: in a horizontal box the space is shared by flex ratio from a zero basis; in a
    # vertical box a flex child keeps its own height and takes a share of what is left.
    "f": (
        ".fx-h>{c},.fx-b>{c}{{flex:{v} 0 0;min-width:0}}",
        ".fx-v>{c}{{flex:{v} 0 auto}}",
    ),
    "ml": ("{c} .fx-t{{-webkit-line-clamp:{v};line-clamp:{v}}}",),  # text maxLines
}
FLEX_NONE = (".fx-h>{c},.fx-b>{c},.fx-v>{c}{{flex:0 0 auto}}",)
RATIO_RULES: dict[str, tuple[str, ...]] = {
    "ar": ("{c} .fx-img-frame,{c}.fx-icon .fx-icon-face{{aspect-ratio:{v}}}",),
}
ANGLE_RULES: dict[str, tuple[str, ...]] = {
    "ga": ("{c}{{--fx-g-angle:{v}}}",),
}


def _number(text: str) -> str:
    return text.replace(".", "_")


def color_class(prop: str, value: object) -> str | None:
    """`fv-<prop>-rrggbb[aa]` for a LINE colour (#RRGGBB or #RRGGBBAA); None if malformed."""
    match = _COLOR.match(value) if isinstance(value, str) else None
    return f"{PREFIX}{prop}-{match[1].lower()}" if match else None


def length_class(prop: str, value: object) -> str | None:
    """`fv-<prop>-12px` / `fv-<prop>-50pct` for a pixel or percentage length; None if not one."""
    match = _LENGTH.match(value.strip()) if isinstance(value, str) else None
    if not match:
        return None
    return f"{PREFIX}{prop}-{_number(match[1])}{'px' if match[2] == 'px' else 'pct'}"


def number_class(prop: str, value: object) -> str | None:
    """`fv-<prop>-3` for a non-negative whole number (flex, maxLines); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9999:
        return None
    return f"{PREFIX}{prop}-{value}"


def ratio_class(prop: str, value: object) -> str | None:
    """`fv-ar-20-13` for an aspect ratio `20:13`; None if malformed."""
    match = _RATIO.match(value) if isinstance(value, str) else None
    if not match or float(match[1]) == 0 or float(match[2]) == 0:
        return None
    return f"{PREFIX}{prop}-{_number(match[1])}-{_number(match[2])}"


def angle_class(prop: str, value: object) -> str | None:
    """`fv-ga-90` for a gradient angle `90deg`; None if malformed."""
    match = _ANGLE.match(value) if isinstance(value, str) else None
    return f"{PREFIX}{prop}-{_number(match[1])}" if match else None


def _decode(prop: str, encoded: str) -> tuple[tuple[str, ...], str] | None:
    """The rule templates and the CSS value a class stands for; None for a bad name."""
    if prop in COLOR_RULES and _ENC_COLOR.match(encoded):
        return COLOR_RULES[prop], f"#{encoded}"
    if prop in LENGTH_RULES and (match := _ENC_LENGTH.match(encoded)):
        number = match[1].replace("_", ".")
        return LENGTH_RULES[prop], number + ("px" if match[2] == "px" else "%")
    if prop in NUMBER_RULES and _ENC_NUMBER.match(encoded) and "_" not in encoded:
        if prop == "f" and int(encoded) == 0:
            return FLEX_NONE, "0"  # flex 0: the component keeps the size of its content
        return NUMBER_RULES[prop], str(int(encoded))
    if prop in RATIO_RULES and (match := _ENC_RATIO.match(encoded)):
        if float(match[1].replace("_", ".")) == 0 or float(match[2].replace("_", ".")) == 0:
            return None
        return RATIO_RULES[prop], f"{match[1].replace('_', '.')}/{match[2].replace('_', '.')}"
    if prop in ANGLE_RULES and _ENC_NUMBER.match(encoded):
        return ANGLE_RULES[prop], encoded.replace("_", ".") + "deg"
    return None


def value_stylesheet(classes: Iterable[str]) -> str:
    """CSS rules for the value classes among `classes` (others are ignored), one per line.

    Only well-formed names produce rules, so the output is safe whatever the input; at most
    MAX_CLASSES classes are read.
    """
    rules: list[str] = []
    seen: set[str] = set()
    for name in classes:
        if len(seen) >= MAX_CLASSES:
            break
        if name in seen:
            continue
        seen.add(name)
        match = _CLASS.match(name)
        if not match:
            continue
        decoded = _decode(match[1], match[2])
        if decoded is None:
            continue
        templates, value = decoded
        rules.extend(template.format(c=f".{name}", v=value) for template in templates)
    return "\n".join(rules) + ("\n" if rules else "")


def value_classes_in(markup: str) -> list[str]:
    """The value classes used in rendered markup, sorted (for a page's stylesheet link)."""
    return sorted(set(re.findall(r"\bfv-[a-z]{1,4}-[0-9a-z_-]{1,24}\b", markup)))
