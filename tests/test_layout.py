"""The suite's layout: shared code lives in tests/helpers, never in a conftest or a test module.

A conftest is loaded by pytest for its fixtures, and a test module is collected for its tests;
importing either from elsewhere runs it twice under two roles, or couples one feature's tests to
another's. Fixtures stay in conftest.py files, so tests/helpers holds none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _is_forbidden(module: str) -> bool:
    """A dotted module path that names a conftest or a test module."""
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def forbidden_imports(source: str) -> list[str]:
    """Every import in `source` of a conftest or a `test_*` module, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_forbidden(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.module and _is_forbidden(node.module):
                found.append(module)
            # `from tests.shop_api import test_linking`, `from . import conftest`
            found += [f"{module}.{a.name}" for a in node.names if _is_forbidden(a.name)]
    return found


def fixtures_defined(source: str) -> list[str]:
    """Names of the functions in `source` decorated as pytest fixtures."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target) in ("pytest.fixture", "fixture"):
                    names.append(node.name)
    return names


@pytest.mark.parametrize(
    "source",
    [
        "from tests.conftest import SHOPPER_ID",
        "from tests.console.conftest import login",
        "from .conftest import Api",
        "from . import conftest",
        "import tests.conftest",
        "from tests.shop_api.test_linking import send",
        "from tests.shop_api import test_linking",
        "def f():\n    from tests.conftest import load_webhook",
    ],
)
def test_the_check_sees_imports_of_conftests_and_test_modules(source: str) -> None:
    assert forbidden_imports(source)


@pytest.mark.parametrize(
    "source",
    [
        "from tests.helpers.line import SHOPPER_ID",
        "from tests.chaos.harness import Run",
        "import pytest",
        "from bot.delivery import tests_support",
    ],
)
def test_the_check_lets_other_imports_through(source: str) -> None:
    assert forbidden_imports(source) == []


def test_no_module_imports_a_conftest_or_a_test_module() -> None:
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in sorted(TESTS.rglob("*.py"))
        if (found := forbidden_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_helpers_define_no_fixtures() -> None:
    assert fixtures_defined("@pytest.fixture\ndef api(): ...") == ["api"]
    assert fixtures_defined("@pytest.fixture(scope='session')\ndef db(): ...") == ["db"]
    offenders = {
        str(path.relative_to(TESTS)): names
        for path in sorted((TESTS / "helpers").rglob("*.py"))
        if (names := fixtures_defined(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
