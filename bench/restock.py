"""Restock benchmark: how long `product.restocked` takes to find its audience among many carts.

    .venv/bin/python bench/restock.py [--carts 100000] [--holders 2000] [--skus 2000]

Seeds `--carts` carts over 60 days (each with 1-4 of `--skus` products), of which `--holders`
changed within the last 30 days hold the restocked product, each of a linked, following
shopper. Then posts one signed `product.restocked` event to the shop API and prints the API's
answer time, and the time of the background fan-out that starts one restock flow per holder.

Uses PostgreSQL (database `bench_restock` on 127.0.0.1) when reachable, else SQLite; the
in-process Redis stand-in carries the jobs. The bench database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import create_app  # noqa: E402
from bot.core.db import Base, Database  # noqa: E402
from bot.core.settings import Settings  # noqa: E402
from bot.line.gateway import InMemoryLineGateway  # noqa: E402
from bot.shop_api.auth import signed_headers  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_restock"
SHOP_SECRET = "bench-shop-secret"
TARGET = "MAME-5"


def database_url(tmp: str) -> str:
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS bench_restock WITH (FORCE)"))
            conn.execute(text("CREATE DATABASE bench_restock"))
        admin.dispose()
        return PG_BENCH
    except Exception:  # noqa: BLE001 - no PostgreSQL here: measure on SQLite
        return f"sqlite:///{tmp}/restock.sqlite3"


def seed(db: Database, carts: int, holders: int, skus: int, now: datetime) -> None:
    """Carts and shoppers written in bulk (the API path is what is measured, not this)."""
    from bot.models import Cart, CartSku, Shopper
    from bot.models.deliveries import CartState

    rng = random.Random(7)
    catalogue = [f"SKU-{n:05d}" for n in range(skus)]
    holder_rows = set(rng.sample(range(carts), holders))
    cart_rows, sku_rows, shopper_rows = [], [], []
    for n in range(carts):
        held = n in holder_rows
        age = timedelta(days=rng.uniform(0, 30 if held else 60))
        items = rng.sample(catalogue, rng.randint(1, 4))
        if held:
            items[0] = TARGET
        elif TARGET in items:
            items.remove(TARGET)
        if not items:
            items = [catalogue[0]]
        lines = [{"sku": sku, "name": f"商品 {sku}", "price": 1200, "quantity": 1} for sku in items]
        sku_rows.extend({"cart_id": n + 1, "sku": sku} for sku in sorted(set(items)))
        cart_rows.append(
            {
                "id": n + 1,
                "cart_id": f"C{n}",
                "customer_key": f"m:M{n}",
                "state": CartState.OPEN,
                "data": {"id": f"C{n}", "items": lines},
                "skus": sorted(set(items)),
                "changed_at": now - age,
                "updated_at": now - age,
            }
        )
        if held:
            shopper_rows.append(
                {
                    "line_user_id": f"U{n:032x}",
                    "display_name": f"ベンチ {n}",
                    "follow_state": "following",
                    "follow_count": 1,
                    "marketing_opt_in": True,
                    "member_id": f"M{n}",
                    "linked_at": now - timedelta(days=90),
                    "created_at": now - timedelta(days=90),
                    "updated_at": now - timedelta(days=90),
                }
            )
    with db.engine.begin() as conn:
        for start in range(0, len(cart_rows), 5000):
            conn.execute(insert(Cart), cart_rows[start : start + 5000])
        for start in range(0, len(sku_rows), 5000):
            conn.execute(insert(CartSku), sku_rows[start : start + 5000])
        conn.execute(insert(Shopper), shopper_rows)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("SELECT setval('carts_id_seq', (SELECT max(id) FROM carts))"))
            conn.execute(text("ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--carts", type=int, default=100_000)
    parser.add_argument("--holders", type=int, default=2_000)
    parser.add_argument("--skus", type=int, default=2_000)
    args = parser.parse_args()
    if not 0 < args.holders <= args.carts <= 1_000_000:
        raise SystemExit("need 0 < holders <= carts <= 1,000,000")

    with tempfile.TemporaryDirectory(prefix="bench-restock-") as tmp:
        url = database_url(tmp)
        db = Database(url)
        import bot.models  # noqa: F401

        Base.metadata.create_all(db.engine)
        now = datetime.now(UTC)
        began = time.perf_counter()
        seed(db, args.carts, args.holders, args.skus, now)
        print(
            f"database: {url.split('@')[-1] if '@' in url else 'sqlite'}; seeded {args.carts:,} "
            f"carts, {args.holders:,} holding {TARGET}, in {time.perf_counter() - began:.1f} s"
        )
        settings = Settings(
            env="test",
            database_url=url,
            shop_api_secret=SHOP_SECRET,
            quiet_hours=None,
            daily_marketing_cap=1000,
            link_hosts=("shop.example.jp",),
        )
        app = create_app(settings, line=InMemoryLineGateway(), database=db)
        client = app.test_client()
        body = json.dumps(
            {
                "type": "product.restocked",
                "event_id": str(uuid.uuid4()),
                "occurred_at": now.isoformat(),
                "sku": TARGET,
                "name": "有田焼 豆皿5枚セット(花づくし)",
                "product_url": f"https://shop.example.jp/items/{TARGET}",
            },
            ensure_ascii=False,
        ).encode()
        headers = signed_headers(SHOP_SECRET, int(time.time()), "POST", "/api/v1/events", body)
        headers["Content-Type"] = "application/json"
        began = time.perf_counter()
        response = client.post("/api/v1/events", data=body, headers=headers)
        answered = time.perf_counter() - began
        if response.status_code != 202:
            raise SystemExit(f"restock event refused: {response.status_code} {response.json}")
        from rq import SimpleWorker

        from bot.delivery.engine import abandoned_cart_holders

        with app.app_context():
            began = time.perf_counter()
            holders = abandoned_cart_holders(
                app.extensions["bot"].db.session(), TARGET, now - timedelta(days=30)
            )
            looked_up = time.perf_counter() - began

        services = app.extensions["bot"]
        began = time.perf_counter()
        with app.app_context():  # the jobs use this app, not one built from the environment
            SimpleWorker(services.queues.all(), connection=services.redis).work(burst=True)
        fanned = time.perf_counter() - began
        from bot.models import Flow

        with app.app_context():
            flows = services.db.session().scalar(
                select(func.count()).select_from(Flow).where(Flow.scenario_id == "restock")
            )
        print(f"POST /api/v1/events (product.restocked): answered in {answered * 1000:.0f} ms")
        print(
            f"audience lookup (indexed): {len(holders):,} cart holders in {looked_up * 1000:.0f} ms"
        )
        print(f"background fan-out: {flows:,} restock flows started in {fanned * 1000:.0f} ms")
        db.dispose()
        if url == PG_BENCH:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS bench_restock WITH (FORCE)"))
            admin.dispose()


if __name__ == "__main__":
    main()
