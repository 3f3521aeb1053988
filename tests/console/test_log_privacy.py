"""A failing SQL statement is logged without its parameters (what the operator searched for)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from bot.core.logs import JsonFormatter

SEARCH = "秘密の検索語"


@pytest.fixture
def failing_search(app: Flask) -> Iterator[None]:
    """Break, at the database, every statement that carries the search term as a parameter."""
    engine = app.extensions["bot"].db.engine

    def corrupt(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> Any:
        values = parameters.values() if isinstance(parameters, dict) else parameters or ()
        if any(SEARCH in str(value) for value in values):
            statement = "SELEC " + statement  # a syntax error the database reports
        return statement, parameters

    event.listen(engine, "before_cursor_execute", corrupt, retval=True)
    yield
    event.remove(engine, "before_cursor_execute", corrupt)


def test_a_sql_error_does_not_log_the_search_term(
    app: Flask, as_operator: FlaskClient, failing_search: None, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # log and answer 500, as in production
    with caplog.at_level(logging.ERROR):
        response = as_operator.get("/console/queue", query_string={"tab": "resolved", "q": SEARCH})

    assert response.status_code == 500
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "SELEC " in logged  # the failing statement was logged, with its traceback
    assert "hide_parameters" in logged
    assert SEARCH not in logged
    assert SEARCH not in response.get_data(as_text=True)
