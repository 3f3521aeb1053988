"""Delivery-engine benchmark: pushes/s end to end, worker CPU per delivery, dispatcher tick.

    .venv/bin/python bench/dispatch.py [--pushes 5000] [--workers 2] [--pending 1000000]
                                       [--cpu 2000] [--profile]

Uses PostgreSQL (database `bench_deliveries` on 127.0.0.1) and Redis db 13 when reachable,
else SQLite (and skips the multi-process part if there is no Redis). The LINE emulator runs as
a process of its own, so its CPU is not counted as the bot's (on a small machine it still
shares the cores with the workers and the database). Loopback only; the bench database is
dropped and the Redis db flushed at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.request import urlopen

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import create_app  # noqa: E402
from bot.core.db import Base, Database  # noqa: E402
from bot.core.settings import Settings  # noqa: E402
from bot.delivery import engine as deliveries  # noqa: E402
from bot.delivery import jobs as delivery_jobs  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_deliveries"
REDIS_URL = "redis://127.0.0.1:6379/13"
TOKEN = "bench-token"
SECRET = "bench-secret"
SEND_THREADS: int | None = None  # --threads; None: the setting's default
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


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every local `postgres` process (the whole server, other users included)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        seconds = cpu_seconds(int(entry.name))
        if seconds is not None:
            found[int(entry.name)] = seconds
    return found


@contextmanager
def emulator_process() -> Iterator[tuple[str, int]]:
    """The LINE emulator in a child process; yields its base URL and PID, stops it by PID."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "line_emulator",
            "--port",
            str(port),
            "--channel-secret",
            SECRET,
            "--access-token",
            TOKEN,
            "--auto-create-users",
            # Off: the bench measures the bot, not the emulator's message validator.
            "--no-sdk-check",
            "--quiet",
            "--max-records",
            "1000",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urlopen(f"{base_url}/_emulator/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the LINE emulator did not start")
        yield base_url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def accepted_pushes(base_url: str) -> int:
    """Pushes the emulator answered 200 (from its counters, not its bounded request log)."""
    with urlopen(f"{base_url}/_emulator/stats", timeout=5) as response:
        stats = json.load(response)
    return sum(n for key, n in stats["responses"].items() if key == "POST /v2/bot/message/push 200")


def _env(url: str, base_url: str) -> dict[str, str]:
    threads = {"DELIVERY_SEND_THREADS": str(SEND_THREADS)} if SEND_THREADS else {}
    return {
        **threads,
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": url.replace("+psycopg", ""),
        "REDIS_URL": REDIS_URL,
        "LINE_API_BASE_URL": base_url,
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
        "QUIET_HOURS": "",
        "DAILY_MARKETING_CAP": "1000",
        "LOG_LEVEL": "WARNING",
    }


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

    db = _fresh(url)
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    with emulator_process() as (base_url, emulator_pid):
        env = _env(url, base_url)
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
            pids = {"workers": [p.pid for p in procs], "emulator": [emulator_pid]}
            cpu_before = {k: [cpu_seconds(pid) for pid in v] for k, v in pids.items()}
            pg_before = postgres_cpu()
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
            cpu_after = {k: [cpu_seconds(pid) for pid in v] for k, v in pids.items()}
            # Backends that started during the run count from zero.
            pg_used = sum(t - pg_before.get(pid, 0.0) for pid, t in postgres_cpu().items())
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=10)
            print(
                f"end to end: {sent} pushes in {elapsed:.2f}s = {sent / elapsed:,.0f} pushes/s "
                f"({workers} SimpleWorker processes, {settings.delivery_send_threads} send threads "
                f"each; emulator process accepted {accepted_pushes(base_url)})"
            )
            used = {
                k: sum(a - b for a, b in zip(cpu_after[k], cpu_before[k], strict=True))
                for k in pids
                if None not in cpu_before[k] + cpu_after[k]
            }
            if used and pg_used:
                used["postgres (whole server)"] = pg_used
            if used and sent:
                print(
                    "  CPU per push: "
                    + ", ".join(f"{k} {v * 1000 / sent:.2f} ms" for k, v in used.items())
                    + f" (the machine has {os.cpu_count()} cores)"
                )
        finally:
            redis.flushdb()
            db.dispose()


def bench_send_cpu(url: str, count: int, *, profile: bool) -> None:
    """Worker CPU per delivery: claim `count` rows, time each send batch in this process."""
    from redis import Redis

    db = _fresh(url)
    with emulator_process() as (base_url, _pid):
        try:
            _seed(db, count, due=datetime.now(UTC) - timedelta(seconds=1))
            settings = Settings.from_env(_env(url, base_url))
            app = create_app(settings, redis=Redis.from_url(REDIS_URL), database=db)
            with app.app_context():
                session = db.session()
                ids = deliveries.claim_due(
                    session, datetime.now(UTC), limit=count, lease=timedelta(minutes=5)
                )
                session.commit()
                db.session.remove()
                batches = [
                    ids[i : i + delivery_jobs.SEND_BATCH]
                    for i in range(0, len(ids), delivery_jobs.SEND_BATCH)
                ]
                # The first batch warms up imports, templates and the connection pools.
                delivery_jobs.send_deliveries(batches[0])
                profiler = cProfile.Profile() if profile else None
                cpu0, wall0 = time.process_time(), time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                for batch in batches[1:]:
                    delivery_jobs.send_deliveries(batch)
                if profiler is not None:
                    profiler.disable()
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            timed = len(ids) - len(batches[0])
            print(
                f"send_deliveries, one process: {timed} deliveries in {wall:.2f}s wall, "
                f"{cpu * 1000 / timed:.2f} ms worker CPU per delivery "
                f"(batches of {delivery_jobs.SEND_BATCH}, {settings.delivery_send_threads} threads)"
            )
            if profiler is not None:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        finally:
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
        from bot.delivery import events as shop_events
        from bot.delivery.receivers import delivery_rules

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
                shop_events.record_event(
                    session, event, delivery_rules(app.extensions["bot"]), datetime.now(UTC)
                )
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
    parser.add_argument("--cpu", type=int, default=2000, help="deliveries for the CPU timing")
    parser.add_argument("--profile", action="store_true", help="cProfile the CPU timing")
    parser.add_argument("--threads", type=int, help="DELIVERY_SEND_THREADS for the workers")
    args = parser.parse_args()
    global SEND_THREADS
    SEND_THREADS = args.threads
    postgres = _postgres()
    have_redis = _redis()
    with tempfile.TemporaryDirectory() as tmp:
        url = PG_BENCH if postgres else f"sqlite:///{tmp}/bench.sqlite3"
        print(f"database: {'PostgreSQL' if postgres else 'SQLite'}; redis: {have_redis}")
        try:
            if have_redis:
                bench_throughput(url, args.pushes, args.workers)
                bench_send_cpu(url, args.cpu, profile=args.profile)
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
