"""The chaos harness's own judgement, without services: backoff earned, problems named."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery.send_rules import BACKOFF_SECONDS
from line_emulator import EmulatorServer
from tests.chaos.harness import (
    SECRET,
    TOKEN,
    Chatter,
    Report,
    Run,
    Scenario,
    Service,
    chaos_database_url,
    drop_database,
    earned_backoff,
    postgres_available,
    procfile,
    recreate_database,
)


def _answer(status: int) -> dict:
    return {"status": status}


def test_failed_answers_earn_the_engines_backoff_until_one_delivers() -> None:
    first, second = BACKOFF_SECONDS[0], BACKOFF_SECONDS[1]
    assert earned_backoff([_answer(200)], retry_after=2) == 0
    assert earned_backoff([_answer(500), _answer(200)], retry_after=2) == first
    # A 429 waits at least its Retry-After; a 409 (accepted before) ends the count too.
    assert earned_backoff([_answer(429), _answer(503), _answer(409)], 2) == first + second
    assert earned_backoff([_answer(429), _answer(200)], retry_after=first + 7) == first + 7
    # Answers after the delivering one earn nothing.
    assert earned_backoff([_answer(200), _answer(500), _answer(500)], retry_after=2) == 0


def test_a_clean_report_names_no_problem_and_a_broken_one_names_each() -> None:
    clean = Report(planned=3, delivered=3, webhook_answers=Counter({"200": 5}))
    clean.shop_answers["202"] = 2
    assert clean.problems() == []
    broken = Report(
        planned=3,
        delivered=2,
        lost=[7],
        lost_rows=[(7, "pending", 5, "retrying: LineServerError")],
        duplicated=[8],
        late=[(9, 120.5)],
        webhook_answers=Counter({"200": 4, "500": 1}),
        shop_answers=Counter({"202": 1, "503": 1}),
        unhandled_events={"01JX": "failed"},
        ungreeted=["Uabc"],
        chat_answers_wrong={"Udef": "2/3"},
        chat_traces={"Udef": ["event E1: row ('handled', None, '0.1s', '1.2s')", "pushes: []"]},
    )
    problems = broken.problems()
    assert len(problems) == 9
    assert "(user: answers/events): {'Udef': '2/3'}" in problems[7]
    assert (
        problems[8]
        == "trace of Udef:\n  event E1: row ('handled', None, '0.1s', '1.2s')\n  pushes: []"
    )
    assert problems[0] == (
        "1 planned messages never delivered: [(7, 'pending', 5, 'retrying: LineServerError')]"
    )
    assert "{'500': 1}" in problems[3] and "{'503': 1}" in problems[4]


def test_the_procfile_has_the_processes_the_run_starts_and_kills() -> None:
    types = procfile()
    assert {"release", "web", "scheduler"} <= set(types)
    assert any(name.startswith("worker") for name in types)
    assert types["web"].startswith("gunicorn wsgi:app")


def test_the_worker_to_kill_is_the_one_serving_the_queue(tmp_path) -> None:
    service = Service({"PORT": "8000"}, tmp_path)
    web = procfile()["web"]  # its --workers is no RQ worker
    service.commands = {
        "web": web,
        "worker": "python worker.py --queues webhooks,default",
        "sender": "python worker.py --queues deliveries",
        "scheduler": "python scheduler.py",
    }
    assert service.worker_for("deliveries") == "sender"
    assert service.worker_for("webhooks") == "worker"
    service.commands = {"web": web, "worker": "python worker.py"}
    assert service.worker_for("deliveries") == "worker"


@pytest.mark.parametrize(
    "url, expected",
    [
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            "postgresql://postgres@127.0.0.1:5432/test_chaos",
        ),
        ("postgresql+psycopg://u:p@db/ci", "postgresql://u:p@db/ci_chaos"),
    ],
)
def test_the_run_gets_a_database_of_its_own(url: str, expected: str) -> None:
    assert chaos_database_url(url) == expected


@pytest.mark.skipif(
    not postgres_available(os.environ.get("TEST_DATABASE_URL")),
    reason="the harness reads PostgreSQL (CI's second suite runs this)",
)
def test_a_wrongly_answered_chatter_is_traced_event_by_event(tmp_path) -> None:
    from sqlalchemy.orm import Session

    from bot.core.db import Base
    from bot.models import (
        ConversationMessage,
        Direction,
        FollowState,
        Sender,
        Shopper,
        WebhookEvent,
        WebhookEventState,
    )

    url = chaos_database_url(os.environ["TEST_DATABASE_URL"]).replace("_chaos", "_trace")
    recreate_database(url)
    run = Run(Scenario(), url, "redis://unused", tmp_path)
    emulator = EmulatorServer(SECRET, TOKEN)
    emulator.start()
    try:
        Base.metadata.create_all(run.engine)
        user = emulator.add_user(display_name="チャット 花子")["userId"]
        sent_at = datetime.now(UTC)
        with Session(run.engine) as session:
            shopper = Shopper(
                line_user_id=user,
                follow_state=FollowState.FOLLOWING,
                followed_at=sent_at,
                created_at=sent_at,
                updated_at=sent_at,
            )
            session.add(shopper)
            session.flush()
            session.add(
                WebhookEvent(
                    webhook_event_id="01EVENT",
                    event_type="message",
                    line_user_id=user,
                    state=WebhookEventState.HANDLED,
                    occurred_at=sent_at,
                    received_at=sent_at + timedelta(seconds=0.5),
                    handled_at=sent_at + timedelta(seconds=2),
                )
            )
            session.add(
                ConversationMessage(
                    shopper_id=shopper.id,
                    direction=Direction.OUTBOUND,
                    sender=Sender.BOT,
                    message_type="text",
                    text="送料は全国一律です",
                    webhook_event_id="01EVENT",
                    status="unknown",
                    created_at=sent_at + timedelta(seconds=1),
                )
            )
            session.commit()
        chatter = Chatter(emulator, texts=1, answers=Counter())
        chatter.user_id = user
        chatter.sent = [("01EVENT", "token-never-used", sent_at.timestamp())]

        trace = run._chat_trace(emulator, chatter)
    finally:
        emulator.stop()
        run.engine.dispose()
        drop_database(url)
    assert trace[0] == (
        "event 01EVENT: row ('handled', None, '0.5s', '2.0s'); "
        "log [('unknown', None, '1.0s')]; replies []"
    )
    assert trace[1:] == ["pushes: []", "inbox: []"]
