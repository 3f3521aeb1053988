"""`flask operators create`."""

from __future__ import annotations

from flask import Flask

from bot.models import Operator, OperatorRole


def test_create_operator_from_stdin(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "operators",
            "create",
            "Tanaka@Example.jp",
            "--name",
            "田中",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="十分に長いパスワードです\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        row = app.extensions["bot"].db.session().query(Operator).one()
        assert (row.email, row.name, row.role) == ("tanaka@example.jp", "田中", OperatorRole.ADMIN)
        assert "十分に長い" not in row.password_hash


def test_create_operator_prompts_and_refuses_short_password(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["operators", "create", "ito@example.jp", "--name", "伊藤"], input="short\nshort\n"
    )
    assert result.exit_code != 0
    assert "10文字以上" in result.output
