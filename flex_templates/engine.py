"""Fill a parsed Flex layout with values: placeholders, repeated/optional sections, links.

Layout rules (the layouts themselves stay plain Flex JSON, so the simulator accepts them):

* ``"{{name}}"`` or ``"… {{item.name}} …"`` inside any string value is replaced by the value
  at that dotted path. Substitution happens on parsed strings in a single pass, so a value that
  itself contains ``{{``, quotes, backslashes or newlines is inserted literally.
* A *section* is a name bound to a list of entries by the Python builder (0 entries = hidden,
  1 = optional part, n = loop); entries may nest sections (``item.variant``). A section's
  block is the smallest element of a ``contents`` array (a carousel bubble, a box, a text, a
  span) that holds every placeholder starting with its path (``{{item.…}}``); the block is
  emitted once per entry. So an optional box disappears whole only if it holds two or more of
  the section's placeholders in different children; with a single placeholder, keep any label
  in the same string (``"営業時間:{{hours.text}}"``). A single-entry section whose placeholders
  are spread over a whole bubble (hero, body, footer) just supplies values.
* A box that had contents in the layout but ends up empty is dropped (LINE rejects it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from line_messages.links import is_web_url

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")
# Anything brace-delimited that is not a well-formed placeholder is a typo in the layout.
ANY_BRACES = re.compile(r"\{\{.*?\}\}", re.DOTALL)

LinkWrapper = Callable[[str, str], str]
"""Rewrites a target URL (and the label of the action that opens it) into a tracking URL."""


class RenderError(Exception):
    """A layout cannot be filled with the given values (unknown placeholder, bad section)."""


@dataclass(frozen=True)
class Scope:
    """Values for placeholders plus the sections (name → entries) nested under this scope."""

    values: Mapping[str, Any]
    sections: Mapping[str, Sequence[Scope]] = field(default_factory=dict)


Bound = tuple[tuple[str, Scope], ...]


@dataclass
class Layout:
    """A parsed Flex container with its section blocks located lazily."""

    container: dict[str, Any]
    _ancestry: dict[str, list[list[int]]] = field(default_factory=dict, init=False)
    _blocks: dict[str, int | None] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._index(self.container, [], in_contents=False)

    def _index(self, node: Any, chain: list[int], *, in_contents: bool) -> None:
        if in_contents:
            chain = [*chain, id(node)]
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "contents" and isinstance(value, list):
                    for child in value:
                        self._index(child, chain, in_contents=True)
                else:
                    self._index(value, chain, in_contents=False)
        elif isinstance(node, list):
            for child in node:
                self._index(child, chain, in_contents=False)
        elif isinstance(node, str):
            for match in ANY_BRACES.finditer(node):
                found = PLACEHOLDER.fullmatch(match.group(0))
                if found is None:
                    raise RenderError(f"malformed placeholder {match.group(0)!r}")
                parts = found.group(1).split(".")
                for size in range(1, len(parts) + 1):
                    self._ancestry.setdefault(".".join(parts[:size]), []).append(chain)

    def block_of(self, section: str) -> int | None:
        """Identity of the element repeated for a section path (like ``item.variant``), or None
        if its placeholders are not inside one contents element (or absent)."""
        if section not in self._blocks:
            chains = self._ancestry.get(section) or [[]]
            common = chains[0]
            for other in chains[1:]:
                size = 0
                while size < min(len(common), len(other)) and common[size] == other[size]:
                    size += 1
                common = common[:size]
            self._blocks[section] = common[-1] if common else None
        return self._blocks[section]

    def uses(self, section: str) -> bool:
        """True if any placeholder starts with this path."""
        return section in self._ancestry


_DROP = object()


def _section_paths(scope: Scope, prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, entries in scope.sections.items():
        path = f"{prefix}{name}"
        paths.add(path)
        for entry in entries:
            paths |= _section_paths(entry, f"{path}.")
    return paths


class _Filler:
    def __init__(self, layout: Layout, root: Scope) -> None:
        self.layout = layout
        self.root = root
        self.paths = _section_paths(root)
        self.blocks: dict[int, str] = {}
        global_bound: list[tuple[str, Scope]] = []
        for path in sorted(self.paths, key=lambda p: (p.count("."), p)):
            if not layout.uses(path):
                continue
            block = layout.block_of(path)
            if block is None:
                # Placeholders spread over the bubble (hero, body, footer): a single entry
                # just supplies values; there is no element to repeat or leave out.
                entries = self.entries(path, tuple(global_bound))
                if len(entries) != 1 or "." in path:
                    raise RenderError(
                        f"placeholders of section {path!r} must sit inside one element "
                        "of a contents array (wrap them in a box)"
                    )
                global_bound.append((path, entries[0]))
                continue
            if block in self.blocks:
                raise RenderError(f"sections {self.blocks[block]!r} and {path!r} share one block")
            self.blocks[block] = path
        self.global_bound: Bound = tuple(global_bound)

    def fill(self) -> dict[str, Any]:
        result = self.node(self.layout.container, self.global_bound)
        if result is _DROP:
            raise RenderError("the layout rendered to nothing")
        return result

    def node(self, node: Any, bound: Bound) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "contents" and isinstance(value, list):
                    out[key] = self.contents(value, bound)
                else:
                    filled = self.node(value, bound)
                    if filled is not _DROP:
                        out[key] = filled
            if node.get("type") == "box" and node.get("contents") and not out.get("contents"):
                return _DROP
            return out
        if isinstance(node, list):
            return [item for item in (self.node(v, bound) for v in node) if item is not _DROP]
        if isinstance(node, str):
            return PLACEHOLDER.sub(lambda m: self.lookup(m.group(1), bound), node)
        return copy.deepcopy(node)

    def contents(self, items: list[Any], bound: Bound) -> list[Any]:
        out: list[Any] = []
        for item in items:
            path = self.blocks.get(id(item))
            if path is None:
                scopes: Iterator[Bound] = iter([bound])
            else:
                scopes = ((*bound, (path, entry)) for entry in self.entries(path, bound))
            for scope in scopes:
                filled = self.node(item, scope)
                if filled is not _DROP:
                    out.append(filled)
        return out

    def entries(self, path: str, bound: Bound) -> Sequence[Scope]:
        parent, _, name = path.rpartition(".")
        if not parent:
            return self.root.sections.get(name, ())
        for bound_path, scope in reversed(bound):
            if bound_path == parent:
                return scope.sections.get(name, ())
        raise RenderError(f"section {path!r} is used outside section {parent!r}")

    def lookup(self, path: str, bound: Bound) -> str:
        value: Any = self.root.values
        parts = path.split(".")
        for bound_path, scope in sorted(bound, key=lambda b: -len(b[0])):
            if path.startswith(f"{bound_path}."):
                value, parts = scope.values, path[len(bound_path) + 1 :].split(".")
                break
        else:
            if any(path == p or path.startswith(f"{p}.") for p in self.paths):
                raise RenderError(f"{{{{{path}}}}} is used outside its section")
        for part in parts:
            if not isinstance(value, Mapping) or part not in value:
                raise RenderError(f"unknown placeholder {{{{{path}}}}}")
            value = value[part]
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise RenderError(f"placeholder {{{{{path}}}}} has no text value")
        return str(value)


def fill_layout(layout: Layout, scope: Scope) -> dict[str, Any]:
    """Return a new container with placeholders and sections filled from the scope."""
    return _Filler(layout, scope).fill()


def wrap_links(node: Any, link: LinkWrapper) -> None:
    """Route every http(s) URI action (and desktop alternative) through the link wrapper."""
    if isinstance(node, dict):
        if node.get("type") == "uri":
            label = str(node.get("label") or "link")
            uri = node.get("uri")
            if isinstance(uri, str) and is_web_url(uri):
                node["uri"] = link(uri, label)
            alt = node.get("altUri")
            desktop = alt.get("desktop") if isinstance(alt, dict) else None
            if isinstance(alt, dict) and isinstance(desktop, str) and is_web_url(desktop):
                alt["desktop"] = link(desktop, label)
        for value in node.values():
            wrap_links(value, link)
    elif isinstance(node, list):
        for value in node:
            wrap_links(value, link)
