"""Dependencies point one way: core ← line ← shop_api ← features ← console, health, handlers,
CLI ← app. Checked on the source with `ast`, so a violation fails here before it becomes a
cycle or a hidden coupling.

Imports under `if TYPE_CHECKING:` are annotations only and are not counted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.settings import REPO_ROOT

PACKAGES = ("bot", "handlers", "flex_templates", "line_messages", "line_emulator", "sms_emulator")

# Each part and the parts it may import at run time (itself always). The feature order:
# shoppers ← linking ← delivery, and shoppers ← support ← faq.
# The tables (bot.models) are the shared schema, one module per feature; core's database
# helpers and scheduler read them, so core and models may import each other.
LOWER = {
    "line_messages": set(),
    "bot.core": {"bot.models", "line_messages"},
    "bot.models": {"bot.core"},
}
LOWER["flex_templates"] = {"bot.core", "line_messages"}
LOWER["bot.line"] = {*LOWER["bot.models"], "bot.models", "flex_templates", "line_messages"}
LOWER["bot.shop_api"] = {*LOWER["bot.line"], "bot.line"}
_FEATURE_BASE = {*LOWER["bot.shop_api"], "bot.shop_api"}
LOWER["bot.shoppers"] = _FEATURE_BASE
LOWER["bot.linking"] = {*_FEATURE_BASE, "bot.shoppers"}
LOWER["bot.support"] = {*_FEATURE_BASE, "bot.shoppers"}
# Consent records and SMS sit above linking (they erase with the member) and below delivery,
# which asks them before e-mail or SMS.
LOWER["bot.consents"] = {*_FEATURE_BASE, "bot.shoppers", "bot.linking"}
LOWER["bot.sms"] = {*LOWER["bot.consents"], "bot.consents"}
# E-mail (SMTP, unsubscribe, bounces) sits beside SMS: it withdraws consent and marks
# addresses; delivery sends through it.
LOWER["bot.email"] = {*LOWER["bot.consents"], "bot.consents"}
LOWER["bot.delivery"] = {
    *_FEATURE_BASE,
    "bot.shoppers",
    "bot.linking",
    "bot.consents",
    "bot.sms",
    "bot.email",
}
LOWER["bot.faq"] = {*_FEATURE_BASE, "bot.shoppers", "bot.support"}
LOWER["bot.richmenu"] = _FEATURE_BASE  # link changes reach it as domain signals
# Broadcasts use the engine's segments and marketing rules.
LOWER["bot.broadcast"] = {*_FEATURE_BASE, "bot.shoppers", "bot.linking", "bot.delivery"}
FEATURES = {
    "bot.shoppers",
    "bot.linking",
    "bot.consents",
    "bot.sms",
    "bot.email",
    "bot.support",
    "bot.delivery",
    "bot.faq",
    "bot.richmenu",
    "bot.broadcast",
}
_TOP_BASE = {*_FEATURE_BASE, *FEATURES}
LOWER["bot.console"] = _TOP_BASE
LOWER["bot.health"] = _TOP_BASE
LOWER["bot.playground"] = _TOP_BASE  # a dev tool over the features, beside the console
LOWER["handlers"] = _TOP_BASE
# The report reads every feature's records and shows them in the console.
LOWER["bot.report"] = {*_TOP_BASE, "bot.console"}
LOWER["bot.cli"] = {*_TOP_BASE, "bot.console", "bot.health", "bot.report"}
LOWER["bot.app"] = {*LOWER["bot.cli"], "bot.cli", "handlers", "bot.playground", "bot.report"}
LOWER["bot.release"] = {"bot.app", *LOWER["bot.app"]}
LOWER["bot.job_paths"] = {"bot.app", *LOWER["bot.app"]}  # names old job modules by path
LOWER["bot.devserver"] = {"bot.app", *LOWER["bot.app"]}
# The emulator stands in for LINE: it shares LINE's message rules and nothing else.
LOWER["line_emulator"] = {"line_messages"}
# The SMS emulator stands in for the SMS provider and shares nothing.
LOWER["sms_emulator"] = set()


def part_of(module: str) -> str:
    """The part a dotted module name belongs to (`bot.delivery.sender` → `bot.delivery`)."""
    if module == "bot":
        return "bot"
    if module.startswith("bot."):
        return ".".join(module.split(".")[:2])
    return module.split(".")[0]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Every module a file imports outside `if TYPE_CHECKING:` (at any depth)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "bot":  # `from bot import job_paths` imports bot.job_paths
                for alias in node.names:
                    yield f"bot.{alias.name}", node.lineno
            else:
                yield node.module, node.lineno
        stack.extend(ast.iter_child_nodes(node))


def violations(root: Path = REPO_ROOT) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = _module_name(path, root)
            own = part_of(module)
            allowed = LOWER.get(own)
            for imported, line in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
                if imported.split(".")[0] not in PACKAGES:
                    continue
                target = part_of(imported)
                if target == own:
                    continue
                if allowed is None:
                    found.append(f"{module}: part {own!r} has no place in the layers")
                    break
                if target not in allowed:
                    found.append(f"{module}:{line} imports {imported} ({own} → {target})")
    return found


def test_every_import_points_down_the_layers():
    assert violations() == []


def test_every_module_belongs_to_a_layer():
    parts = {
        part_of(_module_name(path, REPO_ROOT))
        for package in PACKAGES
        for path in (REPO_ROOT / package).rglob("*.py")
    }
    assert parts - set(LOWER) - {"bot"} == set()


@pytest.mark.parametrize(
    ("source", "wanted"),
    [
        ("from bot.delivery import engine\n", ["bot.core.x:1 imports bot.delivery"]),
        ("def f():\n    import handlers\n", ["bot.core.x:2 imports handlers"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import bot.line.gateway\n", []),
        ("from bot.core import clock\n", []),
    ],
)
def test_the_check_sees_an_upward_import(tmp_path, source, wanted):
    (tmp_path / "bot" / "core").mkdir(parents=True)
    (tmp_path / "bot" / "core" / "x.py").write_text(source, encoding="utf-8")
    for package in PACKAGES[1:]:
        (tmp_path / package).mkdir()
    assert [v.split(" (")[0] for v in violations(tmp_path)] == wanted
