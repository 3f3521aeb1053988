"""The chaos harness's own judgement, without services: backoff earned, problems named."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.delivery.send_rules import BACKOFF_SECONDS
from tests.chaos.harness import (
    Report,
    Service,
    chaos_database_url,
    earned_backoff,
    procfile,
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
        chat_answers_wrong={"Udef": 2},
    )
    problems = broken.problems()
    assert len(problems) == 8
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
