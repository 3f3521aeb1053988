"""Delivery-engine benchmark: end-to-end pushes/s, dispatcher tick cost, Redis per pending row.

    .venv/bin/python bench/dispatch.py [--pushes 5000] [--workers 2] [--pending 1000000]

Uses PostgreSQL (database `bench_deliveries` on 127.0.0.1) and Redis db 13 when reachable,
else SQLite (and skips the multi-process part if there is no Redis). Loopback only; the
bench database is dropped and the Redis db flushed at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import create_app, delivery_jobs  # noqa: E402
from bot.db import Base, Database  # noqa: E402
from bot.services import deliveries  # noqa: E402
from bot.settings import Settings  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_deliveries"
REDIS_URL = "redis://127.0.0.1:6379/13"
TOKEN = "bench-token"
SECRET = "bench-secret"
ITEM = {
    "sku": "MUG-AI",
    "name": "美濃焼 手描き藍染め マグカップ",
    "price": 2750,
    "quantity": 1,
    "product_url": "https://shop.example.jp/items/MUG-AI",
}


def _postgres() -> bool:
    try:
        engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS bench_deliveries"))
            conn.execute(text("CREATE DATABASE bench_deliveries"))
        engine.dispose()
        return True
    except Exception:
        return False


def _redis() -> bool:
    from redis import Redis

    try:
        return bool(Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _seed(db: Database, count: int, *, due: datetime, pending_extra: int = 0) -> None:
    """One restock flow per shopper, with `count` due and `pending_extra` future rows."""
    now = datetime.now(UTC)
    postgres = db.dialect == "postgresql"
    series = (
        "generate_series(1, :n) AS g(i)"
        if postgres
        else "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n)"
        " SELECT i FROM s) AS g"
    )
    user = "'U' || lpad(to_hex(g.i), 32, '0')" if postgres else "printf('U%032x', g.i)"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO shoppers (id, line_user_id, display_name, follow_state, follow_count,"
                " marketing_opt_in, created_at, updated_at) SELECT g.i, " + user + ","
                " 'ベンチ ' || g.i, 'following', 1, true, :now, :now FROM " + series
            ),
            {"n": count, "now": now if postgres else now.replace(tzinfo=None)},
        )
        ctx = '{"item": {"name": "有田焼 豆皿", "url": "https://shop.example.jp/items/M5"}}'
        conn.execute(
            text(
                "INSERT INTO delivery_flows (id, shopper_id, scenario_id, subject, state,"
                " anchor_at, context, started_at) SELECT g.i, g.i, 'restock', 'restock:M5:b',"
                " 'active', :now, :ctx, :now FROM " + series
            ),
            {"n": count, "now": now if postgres else now.replace(tzinfo=None), "ctx": ctx},
        )
        insert = (
            "INSERT INTO deliveries (flow_id, shopper_id, scenario_id, step_id, step_index,"
            " template, marketing, state, due_at, attempts, created_at, updated_at)"
            " SELECT {flow}, {flow}, 'restock', {step}, 0, 'restock_notice', true, 'pending',"
            " :due, 0, :now, :now FROM " + series
        )

        def ts(value: datetime) -> datetime:
            return value if postgres else value.replace(tzinfo=None)

        conn.execute(
            text(insert.format(flow="g.i", step="'restocked'")),
            {"n": count, "due": ts(due), "now": ts(now)},
        )
        if pending_extra:
            conn.execute(
                text(insert.format(flow="1", step="'later-' || g.i")),
                {"n": pending_extra, "due": ts(now + timedelta(days=30)), "now": ts(now)},
            )
    if postgres:
        with db.engine.begin() as conn:
            conn.execute(text("SELECT setval('shoppers_id_seq', (SELECT max(id) FROM shoppers))"))
            conn.execute(text("ANALYZE deliveries"))


def _fresh(url: str) -> Database:
    db = Database(url)
    import bot.models  # noqa: F401

    Base.metadata.drop_all(db.engine)
    db.create_all()
    return db


def bench_throughput(url: str, pushes: int, workers: int) -> None:
    from redis import Redis

    from line_emulator import EmulatorServer

    db = _fresh(url)
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    # sdk_check off: the bench measures the bot, not the emulator's message validator.
    emulator = EmulatorServer(SECRET, TOKEN, auto_create_users=True, sdk_check=False)
    emulator.start()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": url.replace("+psycopg", ""),
        "REDIS_URL": REDIS_URL,
        "LINE_API_BASE_URL": emulator.base_url,
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
        "QUIET_HOURS": "",
        "DAILY_MARKETING_CAP": "1000",
        "LOG_LEVEL": "WARNING",
    }
    try:
        _seed(db, pushes, due=datetime.now(UTC) - timedelta(seconds=1))
        settings = Settings.from_env(env)
        app = create_app(settings, redis=redis, database=db)
        procs = [
            subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        time.sleep(3)  # let the workers import the app before the clock starts
        started = time.perf_counter()
        with app.app_context():
            delivery_jobs.dispatch_due_deliveries()
        deadline = started + 300
        sent = 0
        while time.perf_counter() < deadline:
            with db.engine.connect() as conn:
                sent = conn.execute(
                    text("SELECT count(*) FROM deliveries WHERE state = 'sent'")
                ).scalar_one()
            if sent >= pushes:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        accepted = sum(
            1 for r in emulator.requests("/v2/bot/message/push") if r.get("status") == 200
        )
        print(
            f"end to end: {sent} pushes in {elapsed:.2f}s = {sent / elapsed:,.0f} pushes/s "
            f"({workers} SimpleWorker processes, {settings.delivery_send_threads} send threads "
            f"each; emulator accepted {accepted})"
        )
    finally:
        emulator.stop()
        redis.flushdb()
        db.dispose()


def bench_tick(url: str, pending: int, due: int) -> None:
    db = _fresh(url)
    try:
        t0 = time.perf_counter()
        _seed(db, due, due=datetime.now(UTC) - timedelta(seconds=1), pending_extra=pending)
        print(f"seeded {pending:,} pending + {due:,} due rows in {time.perf_counter() - t0:.1f}s")
        session = db.session()
        timings = []
        for _ in range(3):
            t1 = time.perf_counter()
            ids = deliveries.claim_due(
                session, datetime.now(UTC), limit=1000, lease=timedelta(minutes=5)
            )
            timings.append(time.perf_counter() - t1)
            session.rollback()  # leave them due, so every run does the same work
        print(
            f"dispatcher claim of {len(ids):,} due among {pending + due:,} rows: "
            f"best {min(timings) * 1000:.1f} ms, worst {max(timings) * 1000:.1f} ms per tick"
        )
        session.close()
    finally:
        db.dispose()


def bench_redis_memory(url: str, count: int) -> None:
    from redis import Redis

    db = _fresh(url)
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    try:
        settings = Settings(env="test", database_url=url, redis_url=REDIS_URL)
        app = create_app(settings, redis=redis, database=db)
        from bot.services import shop_events
        from handlers.deliveries import engine_rules

        keys_before = redis.dbsize()
        before = int(redis.info("memory")["used_memory"])
        with app.app_context():
            session = db.session()
            for i in range(count):
                event = shop_events.validate_event(
                    {
                        "type": "cart.updated",
                        "event_id": f"mem-{i}",
                        "occurred_at": datetime.now(UTC).isoformat(),
                        "line_user_id": f"U{i + 1:032x}",
                        "cart": {
                            "id": f"C{i}",
                            "url": f"https://shop.example.jp/cart/C{i}",
                            "currency": "JPY",
                            "subtotal": 2750,
                            "items": [ITEM],
                        },
                    }
                )
                shop_events.record_event(session, event, engine_rules(app), datetime.now(UTC))
            session.commit()
        after = int(redis.info("memory")["used_memory"])
        keys = redis.dbsize() - keys_before
        print(
            f"redis per pending delivery: {max(after - before, 0) / (3 * count):.1f} bytes, "
            f"{keys} new keys for {3 * count} planned deliveries (they live in the database)"
        )
    finally:
        redis.flushdb()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pushes", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pending", type=int, default=1_000_000)
    args = parser.parse_args()
    postgres = _postgres()
    have_redis = _redis()
    with tempfile.TemporaryDirectory() as tmp:
        url = PG_BENCH if postgres else f"sqlite:///{tmp}/bench.sqlite3"
        print(f"database: {'PostgreSQL' if postgres else 'SQLite'}; redis: {have_redis}")
        try:
            if have_redis:
                bench_throughput(url, args.pushes, args.workers)
                bench_redis_memory(url, 500)
            else:
                print("no Redis on 127.0.0.1:6379: skipping the multi-process parts")
            bench_tick(url, args.pending, 1000)
        finally:
            if postgres:
                engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.execute(text("DROP DATABASE IF EXISTS bench_deliveries WITH (FORCE)"))
                engine.dispose()


if __name__ == "__main__":
    main()
