"""Delivery-report benchmark: the 30-day report over 1,000,000 deliveries and 100,000 clicks.

    .venv/bin/python bench/report.py [--deliveries 1000000] [--clicks 100000] [--runs 5]

Seeds PostgreSQL (database `bench_report` on 127.0.0.1, dropped at the end) with set-based
INSERT … SELECT generate_series: 100,000 shoppers, one flow per three deliveries of the
shipped cart-abandonment scenario spread over 90 days (sent, skipped, cancelled, held out),
the clicks, 20,000 attributed orders and LINE's daily insight rows; then times
`build_report` for the last 30 days (about a third of the rows) and prints each run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.db import Base, Database  # noqa: E402
from bot.delivery.aggregation import aggregation_unit  # noqa: E402
from bot.delivery.scenarios import load_scenarios  # noqa: E402
from bot.line.gateway import MessageQuota  # noqa: E402
from bot.report.build import QuotaReading, build_report  # noqa: E402
from bot.report.queries import period_for  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_report"
END = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # midnight in Tokyo
DAYS = 90


def seed(db: Database, deliveries: int, clicks: int) -> None:
    flows = deliveries // 3
    units = [
        aggregation_unit("cart_abandonment", step, variant)
        for step, variant in [
            ("reminder", None),
            ("incentive", "coupon"),
            ("incentive", "free_shipping"),
            ("low_stock", None),
        ]
    ]
    params = {"end": END, "days": DAYS, "n": deliveries, "flows": flows, "clicks": clicks}
    params["units"] = units
    statements = [
        """INSERT INTO shoppers (id, line_user_id, follow_state, follow_count, member_id,
               marketing_opt_in, opt_in_changed_at, blocked_at, created_at, updated_at)
           SELECT i, 'U' || lpad(i::text, 32, '0'),
                  CASE WHEN i % 200 = 0 THEN 'blocked' ELSE 'following' END, 1, 'M' || i,
                  i % 100 <> 0,
                  CASE WHEN i % 100 = 0 THEN :end - (i % :days) * interval '1 day' END,
                  CASE WHEN i % 200 = 0 THEN :end - (i % :days) * interval '1 day' END,
                  :end - interval '200 days', :end
           FROM generate_series(1, 100000) AS i""",
        """INSERT INTO delivery_flows (id, shopper_id, scenario_id, subject, state, anchor_at,
               context, started_at, end_reason)
           SELECT f, (f % 100000) + 1, 'cart_abandonment', 'cart:C' || f, 'ended',
                  :end - ((f::bigint * 7919) % (:days * 1440)) * interval '1 minute', '{}',
                  :end - ((f::bigint * 7919) % (:days * 1440)) * interval '1 minute',
                  CASE WHEN f % 10 = 0 THEN 'holdout' END
           FROM generate_series(1, :flows) AS f""",
        """INSERT INTO deliveries (id, flow_id, shopper_id, scenario_id, step_id, step_index,
               template, variant, marketing, state, due_at, reason, attempts, sent_at,
               created_at, updated_at)
           SELECT i, fl.id, fl.shopper_id, 'cart_abandonment',
                  (ARRAY['reminder', 'incentive', 'low_stock'])[s + 1], s,
                  (ARRAY['cart_reminder', 'cart_incentive', 'cart_low_stock'])[s + 1],
                  CASE WHEN s = 1 THEN CASE WHEN fl.id % 2 = 0 THEN 'coupon'
                                            ELSE 'free_shipping' END END,
                  true,
                  CASE WHEN fl.id % 10 = 0 THEN 'skipped'
                       WHEN i % 20 = 1 THEN 'skipped' WHEN i % 20 = 2 THEN 'cancelled'
                       WHEN i % 50 = 3 THEN 'pending' ELSE 'sent' END,
                  fl.anchor_at + (ARRAY[interval '15 minutes', interval '1 day',
                                        interval '3 days'])[s + 1],
                  CASE WHEN fl.id % 10 = 0 THEN 'holdout'
                       WHEN i % 20 = 1 THEN 'quiet_hours: 22:00-08:00'
                       WHEN i % 20 = 2 THEN 'ordered: O' || i END,
                  0,
                  CASE WHEN fl.id % 10 <> 0 AND i % 20 NOT IN (1, 2) AND i % 50 <> 3 THEN
                       fl.anchor_at + (ARRAY[interval '15 minutes', interval '1 day',
                                             interval '3 days'])[s + 1] END,
                  fl.anchor_at, fl.anchor_at
           FROM generate_series(1, :n) AS i
           CROSS JOIN LATERAL (SELECT (i - 1) % 3 AS s) AS step
           JOIN delivery_flows AS fl ON fl.id = (i - 1) / 3 + 1""",
        """INSERT INTO delivery_clicks (delivery_id, shopper_id, campaign, content, url,
               clicked_at)
           SELECT d.id, d.shopper_id, 'cart_abandonment', d.step_id,
                  'https://shop.example.jp/cart', d.sent_at + interval '7 minutes'
           FROM (SELECT id, shopper_id, step_id, sent_at FROM deliveries
                 WHERE state = 'sent' AND id % 8 = 0 LIMIT :clicks) AS d""",
        """INSERT INTO orders (order_id, customer_key, cart_id, total, placed_at, updated_at)
           SELECT 'O' || fl.id, 'm:M' || fl.shopper_id, 'C' || fl.id, 3000 + (fl.id % 50) * 100,
                  fl.anchor_at + interval '30 hours', fl.anchor_at + interval '30 hours'
           FROM delivery_flows AS fl WHERE fl.id % 16 = 1""",
        """INSERT INTO delivery_conversions (order_id, shopper_id, scenario_id, amount,
               delivery_ids, ordered_at, created_at)
           SELECT 'O' || fl.id, fl.shopper_id, 'cart_abandonment', 3000 + (fl.id % 50) * 100,
                  json_build_array((fl.id - 1) * 3 + 1, (fl.id - 1) * 3 + 2),
                  fl.anchor_at + interval '30 hours', fl.anchor_at + interval '30 hours'
           FROM delivery_flows AS fl WHERE fl.id % 16 = 1 AND fl.id % 10 <> 0""",
        """INSERT INTO message_insights (unit, day, unique_impressions, unique_clicks, fetched_at)
           SELECT u.unit, (:end AT TIME ZONE 'Asia/Tokyo')::date - d,
                  CASE WHEN d % 9 = 0 THEN NULL ELSE 40 + d END, NULL, :end
           FROM unnest(CAST(:units AS text[])) AS u(unit)
           CROSS JOIN generate_series(1, :days) AS d""",
        "SELECT setval('shoppers_id_seq', 100000)",
    ]
    with db.engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql), params)
    # What autovacuum does to a live table: statistics, and the visibility map that lets
    # the report read deliveries from its covering index alone.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def _backend_cpu(pid: int) -> float:
    """CPU seconds a local PostgreSQL backend has used (utime + stime from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_cost(db: Database, book, period, now, quota) -> tuple[float, float]:
    """The report's CPU cost, which other load on the machine does not inflate the way it
    inflates wall time: the database backend's and this process's."""
    session = db.session()
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    pid = session.scalar(text("SELECT pg_backend_pid()"))
    pg0, py0 = _backend_cpu(pid), time.process_time()
    build_report(session, book, period, now, quota)
    pg1, py1 = _backend_cpu(pid), time.process_time()
    db.session.remove()
    return pg1 - pg0, py1 - py0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--clicks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep and reuse the seeded database")
    args = parser.parse_args()

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = 'bench_report'"))
        fresh = not (args.reuse and exists.first())
        if fresh:
            conn.execute(text("DROP DATABASE IF EXISTS bench_report"))
            conn.execute(text("CREATE DATABASE bench_report"))
    db = Database(PG_BENCH)
    try:
        import bot.models  # noqa: F401

        if fresh:
            Base.metadata.create_all(db.engine)
            started = time.perf_counter()
            seed(db, args.deliveries, args.clicks)
            print(
                f"seeded {args.deliveries:,} deliveries, {args.clicks:,} clicks "
                f"in {time.perf_counter() - started:.1f} s"
            )
        book = load_scenarios()
        tz = ZoneInfo("Asia/Tokyo")
        now = END - timedelta(minutes=1)
        period = period_for(now, tz)
        quota = QuotaReading(MessageQuota(limit=15000, used=9000))
        times = []
        for _ in range(args.runs):
            session = db.session()
            started = time.perf_counter()
            report = build_report(session, book, period, now, quota)
            times.append(time.perf_counter() - started)
            db.session.remove()
        row = next(r for r in report["rows"] if r["step"] == "reminder")
        print(
            f"period {period.first_day} – {period.last_day}: reminder sent {row['sent']:,}, "
            f"clicked {row['clicked']:,}, orders {row['orders']:,}; "
            f"carts abandoned {report['account']['carts_abandoned']:,}"
        )
        print(
            "30-day report: "
            + ", ".join(f"{t * 1000:.0f} ms" for t in times)
            + f" (median {statistics.median(times) * 1000:.0f} ms)"
        )
        cpu = [cpu_cost(db, book, period, now, quota) for _ in range(args.runs)]
        print(
            "CPU per report (one PostgreSQL backend, no parallel workers, + this process): "
            + ", ".join(f"{pg * 1000:.0f} + {py * 1000:.0f} ms" for pg, py in cpu)
            + f" (median total {statistics.median(pg + py for pg, py in cpu) * 1000:.0f} ms)"
        )
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        db.dispose()
        if not args.reuse:
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS bench_report"))


if __name__ == "__main__":
    main()
