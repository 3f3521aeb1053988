"""Parsing JSON request bodies: strict UTF-8 and bounded nesting.

Python's parser raises RecursionError (not ValueError) on deep nesting, and what parses
just under its limit can still exhaust the stack of whatever walks the value later
(serialising it for the database, validating it). Request bodies nest a few levels, so
anything deeper than MAX_DEPTH is refused before it goes further.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class JsonInputError(ValueError):
    """The body is not UTF-8 JSON of a sensible depth; the message says why."""


def parse_json_body(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed body; JsonInputError (with a reason) for anything else."""
    try:
        text = raw.decode("utf-8")  # strict: refuses surrogates written as UTF-8 bytes
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonInputError(f"the body is nested more than {max_depth} levels deep") from None
    except ValueError as exc:
        raise JsonInputError(f"the body is not valid JSON: {exc}") from None
    # Every level opens a bracket, so a body with few brackets needs no walk (the common case:
    # this is on the webhook's hot path).
    if raw.count(b"[") + raw.count(b"{") > max_depth and _deeper_than(value, max_depth):
        raise JsonInputError(f"the body is nested more than {max_depth} levels deep")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    # Iterative, so that checking depth cannot itself overflow the stack.
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > limit:
            return True
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        todo.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
