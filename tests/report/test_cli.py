"""`flask report deliveries`: the same figures as the console, as text or JSON."""

from __future__ import annotations

import json

from bot.delivery.insights import HIDDEN_TEXT
from bot.line.gateway import MessageQuota
from tests.helpers.report import write_history

ARGS = ["report", "deliveries", "--from", "2025-07-01", "--to", "2025-07-30"]


def test_json_output(app, line):
    line.quota = MessageQuota(limit=None, used=42)
    with app.app_context():
        write_history(app.extensions["bot"].db.session())
    result = app.test_cli_runner().invoke(args=[*ARGS, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {
        "period",
        "generated_at",
        "account",
        "scenarios",
        "rows",
        "ab_tests",
        "abandonment_reasons",
        "notes",
    }
    assert data["account"]["messages"]["used"] == 42
    assert data["account"]["messages"]["limit"] is None
    s1 = next(r for r in data["rows"] if r["step"] == "s1")
    assert (s1["sent"], s1["opened"], s1["orders"], s1["revenue"]) == (4, 30, 3, 9000)
    assert data["abandonment_reasons"]["by_reason"]["shipping_fee"] == 2
    hidden = next(r for r in data["rows"] if r["variant"] == "A")
    assert hidden["opened"] is None and hidden["opened_status"] == "hidden"


def test_text_output(app):
    with app.app_context():
        write_history(app.extensions["bot"].db.session())
    result = app.test_cli_runner().invoke(args=ARGS)
    assert result.exit_code == 0, result.output
    assert "カゴ落ち 8件 / 回復 4件 (50.0%) / 回復売上 ¥9,000" in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("cart/s2@A"))
    assert HIDDEN_TEXT in line
    assert (
        next(x for x in result.output.splitlines() if x.startswith("cart/s1 ")).split()[2] == "30+"
    )


def test_bad_dates(app):
    result = app.test_cli_runner().invoke(args=["report", "deliveries", "--from", "July"])
    assert result.exit_code == 2 and "not a date" in result.output
    result = app.test_cli_runner().invoke(
        args=["report", "deliveries", "--from", "2025-07-30", "--to", "2025-07-01"]
    )
    assert result.exit_code == 2
