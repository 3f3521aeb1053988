"""`flask operators create`."""

from __future__ import annotations

from flask import Flask

from bot.models import Operator, OperatorRole
from tests.helpers.console import login


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


def test_set_password_lets_the_only_admin_back_in(app: Flask, client) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["operators", "create", "owner@example.jp", "--name", "店長", "--role", "admin"],
        input="最初の長いパスワードです\n最初の長いパスワードです\n",
    )
    assert created.exit_code == 0, created.output
    for _ in range(6):  # forgotten: enough wrong guesses to lock the account
        login(client, "owner@example.jp", "違うパスワード")

    result = runner.invoke(
        args=["operators", "set-password", "Owner@Example.jp", "--temporary", "--password-stdin"],
        input="新しく十分に長いパスワード\n",
    )
    assert result.exit_code == 0, result.output
    assert "to be changed at the next sign-in" in result.output
    with app.app_context():
        row = app.extensions["bot"].db.session().query(Operator).one()
        assert row.must_change_password
    signed_in = login(client, "owner@example.jp", "新しく十分に長いパスワード")
    assert signed_in.status_code in (302, 303)
    assert signed_in.headers["Location"].endswith("/console/password")  # lock lifted, must change

    unknown = runner.invoke(
        args=["operators", "set-password", "nobody@example.jp", "--password-stdin"],
        input="新しく十分に長いパスワード\n",
    )
    assert unknown.exit_code != 0 and "no console account" in unknown.output
