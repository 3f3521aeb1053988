"""Two operators clicking the same ticket at once: exactly one gets it (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from bot.models import SupportTicket, TicketState
from bot.support.actions import claim_ticket
from tests.helpers.console import make_operator, open_ticket


def test_concurrent_claims_have_one_winner(app: Flask) -> None:
    database = app.extensions["bot"].db
    if database.dialect != "postgresql":
        pytest.skip("the claim race needs PostgreSQL's row locking: set TEST_DATABASE_URL")
    operators = [make_operator(app, f"op{n}@example.jp", f"担当{n}") for n in range(8)]
    for round_ in range(5):
        ident = open_ticket(app, f"質問{round_}", line_user_id="U" + f"{round_:x}" * 32)
        barrier = threading.Barrier(len(operators))
        wins: list[int] = []
        errors: list[BaseException] = []

        def attempt(
            operator_id: int,
            ident: int = ident,
            barrier: threading.Barrier = barrier,
            wins: list[int] = wins,
            errors: list[BaseException] = errors,
        ) -> None:
            session = database.session_factory()
            try:
                barrier.wait(timeout=10)
                now = app.extensions["bot"].clock.now()
                if claim_ticket(session, ident, operator_id, now):
                    wins.append(operator_id)
                session.commit()
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                session.close()

        threads = [threading.Thread(target=attempt, args=(op,)) for op in operators]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        assert len(wins) == 1
        with database.session_factory() as session:
            row = session.get(SupportTicket, ident)
            assert row.state is TicketState.CLAIMED and row.operator_id == wins[0]
