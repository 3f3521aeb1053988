"""Broadcast benchmark: one 一斉配信 to 100,000 friends through the LINE emulator over HTTP.

    .venv/bin/python bench/broadcast.py [--recipients 100000] [--database-url URL]

Starts the LINE emulator on loopback with `--recipients` friends, seeds as many following,
opted-in shoppers (in bulk; not measured), composes a Flex broadcast to all of them and runs
the broadcast job (`bot.broadcast.jobs.send_broadcast`) with the real SDK-backed gateway:
quota check, audience stored, rules per shopper, batches stored, multicasts of 500 with their
retry keys, outcomes written. Prints recipients, requests, seconds and requests per second,
and checks with the emulator that every friend got the message exactly once.

SQLite in a temporary folder unless `--database-url` names another database (its tables are
dropped and created). The target is all accepted within 2 minutes; the run gives up (exit 1)
after `--timeout` seconds, so it always stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import create_app  # noqa: E402
from bot.broadcast import compose, jobs, service  # noqa: E402
from bot.core.db import Base, Database  # noqa: E402
from bot.core.settings import Settings  # noqa: E402
from bot.models import Broadcast, BroadcastState, FollowState, Shopper  # noqa: E402
from line_emulator import EmulatorServer  # noqa: E402

SECRET = "bench-channel-secret"
TOKEN = "bench-channel-token"
TARGET_SECONDS = 120.0
MULTICAST = "/v2/bot/message/multicast"
SALE = {
    "type": "bubble",
    "body": {
        "type": "box",
        "layout": "vertical",
        "contents": [
            {"type": "text", "text": "夏のセール開催中", "weight": "bold", "size": "xl"},
            {"type": "text", "text": "全品10%OFF・7月7日まで", "wrap": True},
        ],
    },
    "footer": {
        "type": "box",
        "layout": "vertical",
        "contents": [
            {
                "type": "button",
                "style": "primary",
                "action": {
                    "type": "uri",
                    "label": "セール会場へ",
                    "uri": "https://shop.example.jp/sale",
                },
            }
        ],
    },
}


def user_id(n: int) -> str:
    return f"U{n:032x}"


def watchdog(seconds: float) -> None:
    """End the process if the run outlives `seconds` (a hung request must not hang the bench)."""

    def expire() -> None:
        print(f"gave up: not finished within {seconds:.0f} s", flush=True)
        os._exit(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def seed(db: Database, count: int, now: datetime) -> None:
    rows = [
        {
            "line_user_id": user_id(n),
            "display_name": f"ベンチ {n}",
            "follow_state": FollowState.FOLLOWING,
            "follow_count": 1,
            "marketing_opt_in": True,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(1, count + 1)
    ]
    with db.engine.begin() as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(Shopper), rows[start : start + 10_000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    if not 1 <= args.recipients <= 1_000_000:
        raise SystemExit("--recipients: 1 to 1,000,000")
    watchdog(args.timeout)

    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/broadcast.sqlite3"
        db = Database(url)
        import bot.models  # noqa: F401

        Base.metadata.drop_all(db.engine)
        Base.metadata.create_all(db.engine)
        # Keep only what the check needs: one inbox entry per friend, few request records.
        emulator = EmulatorServer(SECRET, TOKEN, max_inbox=2, max_records=1000)
        emulator.start()
        try:
            began = time.perf_counter()
            for n in range(1, args.recipients + 1):
                emulator.add_user(user_id(n), f"ベンチ {n}", status_message="")
            now = datetime.now(UTC)
            seed(db, args.recipients, now)
            print(
                f"database: {db.dialect}; {args.recipients:,} friends in the emulator and "
                f"the database, seeded in {time.perf_counter() - began:.1f} s"
            )
            settings = Settings(
                env="test",
                database_url=url,
                line_channel_secret=SECRET,
                line_channel_access_token=TOKEN,
                line_api_base_url=emulator.base_url,
                quiet_hours=None,  # the bench measures sending, whatever the hour
            )
            app = create_app(settings, database=db)
            with app.app_context():
                session = app.extensions["bot"].db.session()
                content = compose.from_flex_json(
                    json.dumps(SALE, ensure_ascii=False), "夏のセール開催中！全品10%OFF"
                )
                broadcast, _ = service.create(
                    session,
                    title="夏のセール（ベンチ）",
                    content=content,
                    segment=None,
                    send_at=now,
                    created_by="bench@example.jp",
                    create_key="bench-broadcast-key",
                    now=now,
                )
                session.commit()
                broadcast_id = broadcast.id
                began = time.perf_counter()
                counts = jobs.send_broadcast(broadcast_id)
                seconds = time.perf_counter() - began
                state = session.get(Broadcast, broadcast_id).state
            stats = emulator.stats()
            requests = stats["responses"].get(f"POST {MULTICAST} 200", 0)
            delivered = stats["totalUsage"]
            print(f"recipients: {args.recipients:,}")
            print(f"requests: {requests:,} multicasts (retry key each)")
            print(f"seconds: {seconds:.1f} (target {TARGET_SECONDS:.0f})")
            print(f"requests/s: {requests / seconds:.1f}; recipients/s: {delivered / seconds:,.0f}")
            print(f"accepted by the emulator: {delivered:,}; broadcast {state.value}; {counts}")
            once = all(
                len(emulator.inbox(user_id(n))) == 1
                for n in range(1, args.recipients + 1, max(1, args.recipients // 1000))
            )
            ok = (
                delivered == args.recipients
                and state is BroadcastState.DONE
                and once
                and seconds <= TARGET_SECONDS
            )
            print("result: " + ("OK" if ok else "NOT MET"))
            if not ok:
                raise SystemExit(1)
        finally:
            emulator.stop()
            db.dispose()


if __name__ == "__main__":
    main()
