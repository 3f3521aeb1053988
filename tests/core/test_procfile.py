"""The Procfile's processes: every queue has a worker, and none waits behind another's work."""

from __future__ import annotations

import subprocess
import sys

from bot.core.queues import DELIVERY_QUEUE, DISPATCH_QUEUE, QUEUE_NAMES, WEBHOOK_QUEUE
from bot.core.settings import REPO_ROOT
from bot.devserver import procfile_processes


def _queues_by_process() -> dict[str, list[str]]:
    found = {}
    for name, argv in procfile_processes().items():
        if argv[1:2] == ["worker.py"]:
            found[name] = argv[argv.index("--queues") + 1].split(",")
    return found


def test_every_queue_is_drained_by_some_process():
    drained = [q for queues in _queues_by_process().values() for q in queues]
    assert sorted(drained) == sorted(QUEUE_NAMES)  # each exactly once
    assert "scheduler" in procfile_processes()


def test_dispatch_sends_and_webhooks_each_have_a_process_of_their_own():
    owners = {q: name for name, queues in _queues_by_process().items() for q in queues}
    assert len({owners[WEBHOOK_QUEUE], owners[DISPATCH_QUEUE], owners[DELIVERY_QUEUE]}) == 3


def test_a_worker_refuses_an_unknown_queue(tmp_path):
    result = subprocess.run(
        [sys.executable, "worker.py", "--queues", "webhooks,nope", "--burst"],
        cwd=REPO_ROOT,
        env={"APP_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown queue 'nope'" in result.stderr
