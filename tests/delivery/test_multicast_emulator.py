"""Restock notices as multicasts over real HTTP to the LINE emulator: 600 holders of a SKU get
six multicasts (one per send batch of 100), each holder exactly one message, also when LINE
answers 500 after delivering the first request and that group is sent again under its key.

Runs on SQLite + fakeredis by default and on PostgreSQL + Redis with TEST_DATABASE_URL and
TEST_REDIS_URL set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rq import SimpleWorker
from sqlalchemy import func, select

from bot.app import create_app
from bot.delivery import jobs as delivery_jobs
from bot.models import Delivery, DeliveryState
from tests.helpers.delivery import (
    MAMEZARA,
    MULTICAST_RESTOCK,
    RESTOCK_EVENT,
    SteppedClock,
    emulator_carts,
)
from tests.helpers.shop_api import ShopApi

HOLDERS = 600
MULTICAST = "/v2/bot/message/multicast"


def test_restock_multicasts_reach_every_holder_once(settings, db, redis, emulator, tmp_path: Path):
    path = tmp_path / "scenarios.yaml"
    path.write_text(MULTICAST_RESTOCK, encoding="utf-8")
    clock = SteppedClock(datetime(2025, 7, 1, 1, 0, tzinfo=UTC))  # 10:00 in Tokyo
    app = create_app(
        settings.with_changes(line_api_base_url=emulator.base_url, scenarios_path=path),
        redis=redis,
        database=db,
        clock=clock,
    )
    api = ShopApi(app.test_client())
    users = emulator_carts(app, emulator, HOLDERS, clock.now(), MAMEZARA)
    clock.current += timedelta(days=1)
    restock = {
        "type": "product.restocked",
        "event_id": "restock-1",
        "occurred_at": clock.now().isoformat(),
        **RESTOCK_EVENT,
    }
    assert api.post("/events", restock, timestamp=int(clock.now().timestamp())).status_code == 202

    def run_worker() -> None:
        worker = SimpleWorker(app.extensions["bot"].queues.all(), connection=redis)
        with app.app_context():
            worker.work(burst=True, logging_level="WARNING")

    run_worker()  # the fan-out: 600 flows, 600 deliveries due now
    # LINE delivers the first multicast, then answers 500: ambiguous, so sent again later
    # under the same key, which LINE answers with 409.
    emulator.fail_next(500, n=1, path=MULTICAST, deliver=True)
    for _ in range(4):
        with app.app_context():
            delivery_jobs.dispatch_due_deliveries()
        run_worker()
        clock.current += timedelta(minutes=2)
    with app.app_context():
        session = app.extensions["bot"].db.session()
        states = dict(
            session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
        )
    assert states == {DeliveryState.SENT: HOLDERS}
    assert [len(emulator.inbox(user)) for user in users] == [1] * HOLDERS
    answers = [r["status"] for r in emulator.requests(MULTICAST)]
    assert sorted(answers) == [200] * 5 + [409, 500]
    assert len(emulator.requests("/v2/bot/message/push")) == 0
