"""Chaos benchmark: the Procfile's processes keep their promises while everything goes wrong.

    .venv/bin/python bench/chaos.py [--deliveries 10000] [--chatters 100] [--spread 120]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench_chaos]
        [--redis-url redis://127.0.0.1:6379/12] [--seed 11] [--logs DIR]

Starts the Procfile's processes (release, then web, worker(s), scheduler) on PostgreSQL and
Redis against the LINE emulator, which answers 10% of API calls 5xx, 5% 429 with
Retry-After and 2% only after the client's timeout. While the deliveries fall due (planned
straight in the database, some through the shop API's cart events) and shoppers chat, a
worker and the scheduler are SIGKILLed and restarted, Redis is flushed once and PostgreSQL
terminates every backend of the service once. Prints lost / duplicated / late counts and the
worst lateness (past due plus the backoff each message earned), and exits 1 if any promise
was broken. Late messages are waited for while they still arrive (up to --give-up-after),
so "lost" means not delivered at all by the end of the run.

The database named by --database-url is dropped and re-created (use a scratch one); the
Redis db is flushed before and after. Loopback only; stops every process it started.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos.harness import Run, Scenario, drop_database, log_directory  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--cart-events", type=int, default=200, help="of which via the shop API")
    parser.add_argument("--chatters", type=int, default=100)
    parser.add_argument("--texts", type=int, default=2, help="text messages per chatter")
    parser.add_argument(
        "--spread", type=float, default=120.0, help="seconds over which deliveries fall due"
    )
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_chaos"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--seed", type=int, default=11, help="seed of the emulator's faults")
    parser.add_argument("--read-timeout", type=float, default=5.0, help="LINE_READ_TIMEOUT")
    parser.add_argument("--stall-seconds", type=float, default=8.0)
    parser.add_argument(
        "--give-up-after",
        type=float,
        default=900.0,
        help="seconds after the load to wait for late messages while they still arrive",
    )
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs here")
    args = parser.parse_args()
    scenario = Scenario(
        deliveries=args.deliveries,
        cart_events=min(args.cart_events, args.deliveries),
        chatters=args.chatters,
        texts=args.texts,
        spread=args.spread,
        read_timeout=args.read_timeout,
        stall_seconds=args.stall_seconds,
        seed=args.seed,
        give_up_after=args.give_up_after,
        wait_for_late=True,
    )
    try:
        with log_directory(args.logs) as logs:
            report = Run(scenario, args.database_url, args.redis_url, logs).execute()
    finally:
        if not args.keep_database:
            drop_database(args.database_url)
    print(report.summary())
    problems = report.problems()
    for problem in problems:
        print(f"BROKEN: {problem}")
    print(
        f"lost {len(report.lost)} / duplicated {len(report.duplicated)} / late {len(report.late)}"
        f" of {report.planned}; worst lateness {report.worst_lateness:.1f}s"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
