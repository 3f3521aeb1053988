"""The chaos run: the Procfile's processes on PostgreSQL and Redis, a flaky LINE, and faults.

Used by the chaos test (CI, about 2,000 deliveries) and by ``bench/chaos.py`` (10,000).
It owns one PostgreSQL database (re-created from scratch, schema by the Procfile's
``release`` line) and one Redis db, and only ever signals the processes it started.

While planned deliveries fall due and shoppers chat (follows and text messages, signed
webhooks from the LINE emulator), the emulator answers a share of API calls with 5xx, 429
with Retry-After, or only after the client's timeout (the message delivered all the same);
a worker and the scheduler are SIGKILLed (their process groups) and restarted; Redis is
flushed; PostgreSQL terminates every backend of the service's database. Then it counts, at
the emulator, what every shopper received.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from bot.delivery.send_rules import BACKOFF_SECONDS
from bot.line.gateway import retry_key_for
from bot.shop_api.auth import signed_headers
from line_emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "chaos-channel-secret"
TOKEN = "chaos-channel-access-token"
SHOP_SECRET = "chaos-shop-api-secret"
LATE_AFTER = 90.0  # seconds past due (plus earned backoff) that count as late
CHAT_PATIENCE = 240.0  # seconds after the last webhook for every event to be answered
QUESTIONS = ("送料はいくらかかりますか?", "注文した商品はいつ発送されますか?", "返品できますか?")
ITEM = {
    "sku": "MAME-5",
    "name": "有田焼 豆皿5枚セット(花づくし)",
    "price": 4400,
    "quantity": 1,
    "image_url": "https://shop.example.jp/images/MAME-5.jpg",
    "product_url": "https://shop.example.jp/items/MAME-5",
}

log = logging.getLogger("chaos")


@dataclass(frozen=True)
class Scenario:
    """How big and how hostile a run is."""

    deliveries: int = 2000  # planned messages, each to its own shopper
    cart_events: int = 60  # of which come from cart events through the shop API
    chatters: int = 30  # shoppers who follow and then write
    texts: int = 2  # text messages per chatter
    spread: float = 60.0  # seconds over which deliveries fall due and shoppers chat
    error_rate: float = 0.10
    throttle_rate: float = 0.05
    stall_rate: float = 0.02
    retry_after: float = 2.0
    read_timeout: float = 5.0  # LINE_READ_TIMEOUT of the service
    stall_seconds: float = 8.0  # past the read timeout
    seed: int = 11
    give_up_after: float = 400.0  # hard cap on waiting for stragglers, after the load
    # Keep waiting for messages already late while they still arrive (tells late from
    # lost; the bench does, the test stops as soon as the verdict is known).
    wait_for_late: bool = False


@dataclass
class Report:
    """What the emulator saw, judged against what was planned."""

    planned: int = 0
    delivered: int = 0
    lost: list[int] = field(default_factory=list)  # delivery ids
    # Not yet delivered, but pending on the backoff their LINE answers earned, which runs past
    # the end of the run: (delivery id, seconds until due, attempts).
    deferred: list[tuple[int, float, int]] = field(default_factory=list)
    # What the database says of each lost message: (id, state, attempts, reason).
    lost_rows: list[tuple[int, str, int, str | None]] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    late: list[tuple[int, float]] = field(default_factory=list)  # (delivery id, seconds)
    worst_lateness: float = 0.0
    webhook_answers: Counter[str] = field(default_factory=Counter)
    shop_answers: Counter[str] = field(default_factory=Counter)
    unhandled_events: dict[str, str] = field(default_factory=dict)  # event id -> state
    ungreeted: list[str] = field(default_factory=list)
    chat_answers_wrong: dict[str, str] = field(default_factory=dict)  # user -> "answers/events"
    # For each wrongly answered chatter: each event and what the service did with it.
    chat_traces: dict[str, list[str]] = field(default_factory=dict)
    delivery_states: Counter[str] = field(default_factory=Counter)
    faults: dict[str, Any] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    # Every ~5 s of the run: (seconds since the load began, due rows not sent, rows claimed).
    backlog: list[tuple[int, int, int]] = field(default_factory=list)
    # The worst late messages: their LINE answers as (seconds after due, status, fault).
    late_timelines: dict[int, list[tuple[float, int, str | None]]] = field(default_factory=dict)
    elapsed: float = 0.0

    def problems(self) -> list[str]:
        """Every broken promise, in words; empty when the run kept them all."""
        found = []
        if self.lost:
            found.append(
                f"{len(self.lost)} planned messages never delivered: {self.lost_rows[:10]}"
            )
        if self.duplicated:
            found.append(f"{len(self.duplicated)} delivered twice: {self.duplicated[:10]}")
        if self.late:
            worst = sorted(self.late, key=lambda item: -item[1])[:5]
            found.append(f"{len(self.late)} late by more than {LATE_AFTER:.0f}s: {worst}")
        bad_webhooks = {k: n for k, n in self.webhook_answers.items() if k != "200"}
        if bad_webhooks:
            found.append(f"webhook POSTs not answered 200: {bad_webhooks}")
        bad_shop = {k: n for k, n in self.shop_answers.items() if not k.startswith("2")}
        if bad_shop:
            found.append(f"shop API calls not answered 2xx: {bad_shop}")
        if self.unhandled_events:
            sample = dict(list(self.unhandled_events.items())[:10])
            found.append(f"{len(self.unhandled_events)} webhook events not handled: {sample}")
        if self.ungreeted:
            found.append(f"{len(self.ungreeted)} follows not greeted: {self.ungreeted[:10]}")
        if self.chat_answers_wrong:
            sample = dict(list(self.chat_answers_wrong.items())[:10])
            found.append(
                f"{len(self.chat_answers_wrong)} chatters without exactly one answer per "
                f"event (user: answers/events): {sample}"
            )
            for user_id, lines in list(self.chat_traces.items())[:3]:
                found.append(f"trace of {user_id}:\n  " + "\n  ".join(lines))
        return found

    def summary(self) -> str:
        """The figures, one per line."""
        return "\n".join(
            [
                f"planned {self.planned}, delivered {self.delivered}, lost {len(self.lost)}, "
                f"deferred by earned backoff {len(self.deferred)} {self.deferred[:5]}, "
                f"duplicated {len(self.duplicated)}, late {len(self.late)}, "
                f"worst lateness {self.worst_lateness:.1f}s (past due + earned backoff)",
                f"delivery rows by state: {dict(self.delivery_states)}",
                f"webhook answers: {dict(self.webhook_answers)}; "
                f"shop API answers: {dict(self.shop_answers)}",
                f"webhook events not handled: {len(self.unhandled_events)}; follows not "
                f"greeted: {len(self.ungreeted)}; chatters answered wrongly: "
                f"{len(self.chat_answers_wrong)}",
                f"faults injected by the emulator: {self.faults}",
                "actions: " + "; ".join(self.actions),
                "backlog (s: due unsent/claimed): "
                + ", ".join(f"{t}: {due}/{claimed}" for t, due, claimed in self.backlog),
                *(
                    f"late #{delivery_id}: answers at {timeline}"
                    for delivery_id, timeline in self.late_timelines.items()
                ),
                f"run took {self.elapsed:.0f}s",
            ]
        )


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile() -> dict[str, str]:
    """The Procfile's process types and their commands."""
    types = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, separator, command = line.partition(":")
        if separator and name.strip() and not line.lstrip().startswith("#"):
            types[name.strip()] = command.strip()
    return types


def _pg(url: str) -> str:
    """A SQLAlchemy URL for psycopg 3."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _admin(url: str, *statements: str) -> None:
    """Run statements on the server's maintenance database (outside a transaction)."""
    admin = create_engine(
        _pg(make_url(url).set(database="postgres").render_as_string(hide_password=False)),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    admin.dispose()


def recreate_database(url: str) -> None:
    """Drop and create the run's database (never any other)."""
    name = make_url(url).database
    _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    """Drop the run's database."""
    _admin(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


class Service:
    """The Procfile's processes, each in a process group of its own, logs in ``logs``."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.commands = procfile()
        self.processes: dict[str, subprocess.Popen] = {}
        self.port = int(env["PORT"])
        self.restarts: Counter[str] = Counter()

    def release(self) -> None:
        """Run the release line (migrations, FAQ) to completion."""
        command = self.commands.get("release")
        if command:
            done = subprocess.run(
                ["bash", "-c", f"exec {command}"],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            if done.returncode:
                raise RuntimeError(f"release failed: {done.stdout}\n{done.stderr}")

    def start(self, name: str) -> None:
        """Start one process type (loopback only)."""
        command = self.commands[name].replace("0.0.0.0", "127.0.0.1")
        out = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def start_all(self) -> None:
        """Every process type but release."""
        for name in self.commands:
            if name != "release":
                self.start(name)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal a process type's whole group and wait until none of it is left."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM every group, then SIGKILL what is left."""
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)

    def wait_until_up(self, timeout: float = 60) -> None:
        """Until the web process answers /healthz."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}: {self.tail(name)}"
                    )
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the web process did not come up: {self.tail('web')}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, name: str, lines: int = 30) -> str:
        """The end of a process type's log."""
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def worker_for(self, queue: str) -> str:
        """The RQ worker process type that serves ``queue`` (the first worker if none says)."""
        workers = [
            name
            for name, command in self.commands.items()
            if "worker.py" in command or command.startswith("rq worker")
        ]
        if not workers:
            raise RuntimeError("the Procfile has no worker process")
        return next((name for name in workers if queue in self.commands[name]), workers[0])


# The shipped scenarios, plus the restock notice sent as one push per shopper: half the seeded
# deliveries take each path, so pushes and multicasts both run under the faults.
PUSHED_RESTOCK = """
  restock_each:
    title: 再入荷のお知らせ(一通ずつ)
    trigger: product.restocked
    category: marketing
    audience_within: 30d
    steps:
      - {id: restocked, delay: 0s, template: restock_notice, expires_after: 2d}
"""


def scenario_file() -> Path:
    """The run's scenario file (shipped + PUSHED_RESTOCK), in a temporary directory."""
    path = Path(tempfile.mkdtemp(prefix="chaos-scenarios-")) / "scenarios.yaml"
    shipped = (ROOT / "data" / "scenarios.yaml").read_text(encoding="utf-8")
    path.write_text(shipped.rstrip("\n") + "\n" + PUSHED_RESTOCK, encoding="utf-8")
    return path


def service_env(scenario: Scenario, database_url: str, redis_url: str, api: str) -> dict[str, str]:
    """Settings for the service's processes, from the environment as in production."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST"))}
    env.update(
        APP_ENV="development",
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        PORT=str(free_port()),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LINE_API_BASE_URL=api,
        LINE_CHANNEL_SECRET=SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
        LINE_READ_TIMEOUT=f"{scenario.read_timeout:g}",
        SHOP_API_SECRET=SHOP_SECRET,
        SHOP_LINK_URL="https://shop.example.jp/line-link",  # the shop links to its own host
        QUIET_HOURS="",  # a run at any hour: nothing held back for the night
        DAILY_MARKETING_CAP="100",
        FAQ_PATH=str(ROOT / "data" / "faq_sample.yaml"),
        SCENARIOS_PATH=str(scenario_file()),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        WEB_CONCURRENCY="2",
    )
    return env


def seed(engine: Engine, scenario: Scenario, first_due: datetime) -> list[str]:
    """Shoppers and due restock deliveries straight in the database; members for cart events.

    Returns the member ids of the shoppers whose carts arrive through the shop API.
    """
    direct = scenario.deliveries - scenario.cart_events
    now = datetime.now(UTC)
    # Even shoppers' notices go by multicast (shipped `restock`), odd ones by push.
    restocks = "CASE WHEN g.i % 2 = 0 THEN 'restock' ELSE 'restock_each' END"
    step = scenario.spread / max(direct, 1)
    users = "'U' || lpad(to_hex(g.i), 31, '0') || 'c'"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO shoppers (id, line_user_id, display_name, follow_state, follow_count,"
                " marketing_opt_in, member_id, linked_at, created_at, updated_at)"
                f" SELECT g.i, {users}, 'お客様 ' || g.i, 'following', 1, true,"
                " CASE WHEN g.i > :direct THEN 'CHAOS-M' || g.i END,"
                " CASE WHEN g.i > :direct THEN CAST(:now AS timestamptz) END, :now, :now"
                " FROM generate_series(1, :n) AS g(i)"
            ),
            {"n": scenario.deliveries, "direct": direct, "now": now},
        )
        context = json.dumps(
            {"item": {"name": ITEM["name"], "url": ITEM["product_url"]}}, ensure_ascii=False
        )
        conn.execute(
            text(
                "INSERT INTO delivery_flows (id, shopper_id, scenario_id, subject, state,"
                f" anchor_at, context, started_at) SELECT g.i, g.i, {restocks},"
                " 'restock:MAME-5:' || g.i, 'active', :now, CAST(:context AS json), :now"
                " FROM generate_series(1, :n) AS g(i)"
            ),
            {"n": direct, "now": now, "context": context},
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (flow_id, shopper_id, scenario_id, step_id, step_index,"
                " template, marketing, state, due_at, attempts, created_at, updated_at)"
                f" SELECT g.i, g.i, {restocks}, 'restocked', 0, 'restock_notice', true,"
                " 'pending',"
                " CAST(:first AS timestamptz) + (g.i - 1) * make_interval(secs => :step),"
                " 0, :now, :now FROM generate_series(1, :n) AS g(i)"
            ),
            {"n": direct, "first": first_due, "step": step, "now": now},
        )
        for table in ("shoppers", "delivery_flows"):
            conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    return [f"CHAOS-M{i}" for i in range(direct + 1, scenario.deliveries + 1)]


class ShopClient:
    """The EC site: signed cart events to the web process; every answer is counted."""

    def __init__(self, base_url: str, answers: Counter[str]) -> None:
        self.base_url = base_url
        self.answers = answers
        self.session = requests.Session()

    def cart_updated(self, member_id: str, due_in: float) -> None:
        """A cart left alone: its first reminder (15 minutes) falls due in ``due_in`` s."""
        occurred = datetime.now(UTC) - timedelta(minutes=15) + timedelta(seconds=due_in)
        body = {
            "type": "cart.updated",
            "event_id": f"chaos-{member_id}",
            "occurred_at": occurred.isoformat(),
            "member_id": member_id,
            "cart": {
                "id": f"C-{member_id}",
                "url": f"https://shop.example.jp/cart/C-{member_id}",
                "currency": "JPY",
                "subtotal": ITEM["price"],
                "items": [ITEM],
            },
        }
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = signed_headers(SHOP_SECRET, int(time.time()), "POST", "/api/v1/events", data)
        headers["Content-Type"] = "application/json"
        try:
            response = self.session.post(
                f"{self.base_url}/api/v1/events", data=data, headers=headers, timeout=30
            )
            self.answers[str(response.status_code)] += 1
        except requests.RequestException as exc:
            self.answers[type(exc).__name__] += 1


class Chatter:
    """A shopper who follows and then asks questions; what LINE's webhook POSTs got back."""

    def __init__(self, emulator: EmulatorServer, texts: int, answers: Counter[str]) -> None:
        self.emulator = emulator
        self.texts = texts
        self.answers = answers
        self.user_id: str | None = None
        self.event_ids: list[str] = []
        self.sent: list[tuple[str, str | None, float]] = []  # (event id, reply token, time)

    def run(self, gap: float, stop: threading.Event) -> None:
        result = self.emulator.send_follow(display_name="チャット 花子")
        self._count(result)
        self.user_id = result.event["source"]["userId"]
        for n in range(self.texts):
            if stop.wait(gap):
                return
            self._count(self.emulator.send_text(self.user_id, QUESTIONS[n % len(QUESTIONS)]))

    def _count(self, result: Any) -> None:
        self.event_ids.append(result.webhook_event_id)
        self.sent.append((result.webhook_event_id, result.reply_token, time.time()))
        self.answers[str(result.status) if result.status else (result.error or "no answer")] += 1


class Run:
    """One chaos run against an emulator, a database and a Redis db it owns."""

    def __init__(
        self,
        scenario: Scenario,
        database_url: str,
        redis_url: str,
        logs: Path,
        say: Callable[[str], None] = print,
    ) -> None:
        self.scenario = scenario
        self.database_url = database_url
        self.redis_url = redis_url
        self.logs = logs
        self.say = say
        self.report = Report()
        self.planned_due: dict[int, datetime] = {}  # delivery id -> due when first seen
        self.load_start: float | None = None
        self.engine = create_engine(_pg(database_url), pool_pre_ping=True)

    # -- the run --------------------------------------------------------------------------

    def execute(self) -> Report:
        started = time.monotonic()
        scenario = self.scenario
        emulator = EmulatorServer(
            SECRET,
            TOKEN,
            auto_create_users=True,
            sdk_check=False,  # the bot's messages are checked elsewhere; keep this CPU
            max_records=2_000_000,
            fault_seed=scenario.seed,
        )
        emulator.start()
        env = service_env(scenario, self.database_url, self.redis_url, emulator.base_url)
        service = Service(env, self.logs)
        redis = Redis.from_url(self.redis_url)
        stop = threading.Event()
        try:
            redis.flushdb()
            recreate_database(self.database_url)
            service.release()
            first_due = datetime.now(UTC) + timedelta(seconds=8)
            members = seed(self.engine, scenario, first_due)
            self._note_planned()
            service.start_all()
            service.wait_until_up()
            emulator.set_webhook_url(f"{service.url}/callback")
            emulator.set_fault_rates(
                "/v2/bot/*",
                error=scenario.error_rate,
                throttle=scenario.throttle_rate,
                stall=scenario.stall_rate,
                retry_after=scenario.retry_after,
                stall_seconds=scenario.stall_seconds,
            )
            self.say(
                f"chaos: {scenario.deliveries} deliveries due over {scenario.spread:.0f}s, "
                f"{scenario.chatters} chatters, processes {sorted(service.processes)}"
            )
            load_start = self.load_start = time.monotonic()
            chatters = [
                Chatter(emulator, scenario.texts, self.report.webhook_answers)
                for _ in range(scenario.chatters)
            ]
            with ThreadPoolExecutor(len(chatters) + 1, thread_name_prefix="chaos-load") as pool:
                futures = [pool.submit(self._shop, service.url, members, stop)]
                gap = scenario.spread / (scenario.texts + 2)
                for n, chatter in enumerate(chatters):
                    futures.append(
                        pool.submit(
                            self._later,
                            n * scenario.spread / (2 * len(chatters)),
                            stop,
                            chatter.run,
                            gap,
                            stop,
                        )
                    )
                self._faults(service, redis, load_start, stop)
                for future in futures:
                    future.result()
            self._wait_for_stragglers(emulator, chatters)
            time.sleep(5)  # a late duplicate would show up now
            self._judge(emulator, chatters)
            self.report.faults = emulator.fault_rates()[0]["injected"]
        finally:
            stop.set()
            service.stop()
            emulator.stop()
            redis.flushdb()
            redis.close()
            self.engine.dispose()
            self.report.elapsed = time.monotonic() - started
        return self.report

    @staticmethod
    def _later(
        delay: float, stop: threading.Event, action: Callable[..., None], *args: Any
    ) -> None:
        if not stop.wait(delay):
            action(*args)

    def _shop(self, base_url: str, members: list[str], stop: threading.Event) -> None:
        """Cart events over the first half of the load, each due 20-30 s after it is sent."""
        shop = ShopClient(base_url, self.report.shop_answers)
        gap = self.scenario.spread / 2 / max(len(members), 1)
        for member in members:
            if stop.wait(gap):
                return
            shop.cart_updated(member, due_in=20 + random.random() * 10)
            self._note_planned()

    def _faults(
        self, service: Service, redis: Redis, load_start: float, stop: threading.Event
    ) -> None:
        """The faults, spread over the load; notes new planned rows meanwhile."""
        spread = self.scenario.spread
        sender = service.worker_for("deliveries")
        plan: list[tuple[float, str, Callable[[], Any]]] = [
            (
                0.25 * spread,
                f"SIGKILL {sender} and scheduler",
                lambda: self._kill(service, sender, "scheduler"),
            ),
            (0.5 * spread, "FLUSHDB", redis.flushdb),
        ]
        webhooks = service.worker_for("webhooks")
        if webhooks != sender:
            plan.append(
                (0.6 * spread, f"SIGKILL {webhooks}", lambda: self._kill(service, webhooks))
            )
        plan.append((0.75 * spread, "pg_terminate_backend", self._terminate_backends))
        for at, what, action in plan:
            while time.monotonic() - load_start < at:
                self._note_planned()
                time.sleep(0.5)
            result = action()
            self.report.actions.append(f"{what} at {at:.0f}s" + (f" ({result})" if result else ""))
            self.say(f"chaos: {what}")
        while time.monotonic() - load_start < spread:
            self._note_planned()
            time.sleep(0.5)

    @staticmethod
    def _kill(service: Service, *names: str) -> None:
        """SIGKILL each process type's group, then start them again a second later."""
        for name in names:
            service.kill(name)
        time.sleep(1)
        for name in names:
            service.restarts[name] += 1
            service.start(name)

    def _terminate_backends(self) -> str:
        with self.engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            conn.commit()
        return f"{killed} backends"

    # -- bookkeeping ------------------------------------------------------------------------

    def _note_planned(self) -> None:
        """Remember each new delivery's due time as first planned (backoff moves it later)."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, due_at, attempts FROM deliveries")).all()
            self._sample_backlog(conn)
        horizon = datetime.now(UTC) + timedelta(seconds=self.scenario.spread + 60)
        for delivery_id, due_at, attempts in rows:
            if delivery_id not in self.planned_due and due_at <= horizon:
                if attempts:
                    log.warning("delivery %s first seen after an attempt", delivery_id)
                self.planned_due[delivery_id] = due_at

    def _sample_backlog(self, conn: Any) -> None:
        if self.load_start is None:
            return
        at = int(time.monotonic() - self.load_start)
        if self.report.backlog and at - self.report.backlog[-1][0] < 5:
            return
        due, claimed = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE state = 'pending' AND due_at <= now()),"
                " count(*) FILTER (WHERE state = 'sending') FROM deliveries"
            )
        ).one()
        self.report.backlog.append((at, due, claimed))

    def _recipients(self) -> dict[int, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT d.id, s.line_user_id FROM deliveries d"
                    " JOIN shoppers s ON s.id = d.shopper_id"
                )
            ).all()
        return {delivery_id: user_id for delivery_id, user_id in rows}

    def _wait_for_stragglers(self, emulator: EmulatorServer, chatters: list[Chatter]) -> None:
        """Until everything arrived, or whatever is missing is already late, or the cap."""
        deadline = time.monotonic() + self.scenario.give_up_after
        # The last webhooks went out now; an event a killed worker left half done is swept
        # up after a few minutes, so the chats get that long before they count as lost.
        chats_hopeless_at = time.monotonic() + CHAT_PATIENCE
        event_ids = [e for c in chatters for e in c.event_ids]
        recipients = self._recipients()
        progress_at, last_missing = time.monotonic(), -1
        while time.monotonic() < deadline:
            missing = [d for d in self.planned_due if not self._pushes(emulator, recipients[d])]
            if len(missing) != last_missing:
                progress_at, last_missing = time.monotonic(), len(missing)
            stalled = time.monotonic() - progress_at > 30
            # A handled event has sent its answer: once all are final, none is coming.
            chats_done = time.monotonic() > chats_hopeless_at or self._all_final(event_ids)
            if not missing and chats_done:
                return
            with self.engine.connect() as conn:
                self._sample_backlog(conn)
            if missing and chats_done:
                with self.engine.connect() as conn:
                    due = conn.execute(
                        text("SELECT max(due_at) FROM deliveries WHERE id = ANY(:ids)"),
                        {"ids": missing},
                    ).scalar_one()
                all_late = due is not None and datetime.now(UTC) > due + timedelta(
                    seconds=LATE_AFTER
                )
                if all_late and (stalled or not self.scenario.wait_for_late):
                    return  # all of them are late already: waiting longer proves nothing
            time.sleep(1)

    def _judge_missing(
        self, report: Report, delivery_id: int, due: datetime, records: list[dict[str, Any]]
    ) -> None:
        """Lost, unless the engine holds it for a backoff its LINE answers earned that ends
        after the run: pending, due in the future, and no later than the promise allows."""
        with self.engine.connect() as conn:
            state, attempts, due_at, reason = conn.execute(
                text("SELECT state, attempts, due_at, reason FROM deliveries WHERE id = :id"),
                {"id": delivery_id},
            ).one()
        earned = earned_backoff(records, self.scenario.retry_after)
        now = datetime.now(UTC)
        promised = due + timedelta(seconds=earned + LATE_AFTER)
        if str(state) == "pending" and now < due_at <= promised and records:
            report.deferred.append((delivery_id, round((due_at - now).total_seconds()), attempts))
            return
        report.lost.append(delivery_id)
        report.lost_rows.append((delivery_id, str(state), attempts, reason))

    def _all_final(self, event_ids: list[str]) -> bool:
        """True when every webhook event has reached a final state in the database."""
        with self.engine.connect() as conn:
            final = conn.execute(
                text(
                    "SELECT count(*) FROM webhook_events WHERE webhook_event_id = ANY(:ids)"
                    " AND state IN ('handled', 'ignored', 'failed')"
                ),
                {"ids": event_ids},
            ).scalar_one()
        return final == len(event_ids)

    @staticmethod
    def _pushes(emulator: EmulatorServer, user_id: str) -> list[dict[str, Any]]:
        """What step delivery brought the user: pushes, and multicasts (restock notices)."""
        return [m for m in emulator.inbox(user_id) if m["via"] in ("push", "multicast")]

    @staticmethod
    def _answers(emulator: EmulatorServer, user_id: str | None) -> set[str]:
        """The API requests that delivered something to a chatter."""
        if user_id is None:
            return set()
        return {m["requestId"] for m in emulator.inbox(user_id)}

    def _judge(self, emulator: EmulatorServer, chatters: list[Chatter]) -> None:
        report = self.report
        recipients = self._recipients()
        by_key: dict[str, list[dict[str, Any]]] = {}
        for record in emulator.requests("/v2/bot/message/push"):
            key = record["headers"].get("x-line-retry-key")
            if key:
                by_key.setdefault(key, []).append(record)
        # A multicast carries its group's key: its attempts count for every user it names
        # (each planned user has one delivery).
        by_user: dict[str, list[dict[str, Any]]] = {}
        for record in emulator.requests("/v2/bot/message/multicast"):
            for user_id in (record.get("body") or {}).get("to") or []:
                by_user.setdefault(user_id, []).append(record)

        def attempts(delivery_id: int) -> list[dict[str, Any]]:
            records = by_key.get(retry_key_for("delivery", delivery_id), [])
            records = records + by_user.get(recipients[delivery_id], [])
            return sorted(records, key=lambda r: r["time"])

        report.planned = len(self.planned_due)
        for delivery_id, due in sorted(self.planned_due.items()):
            pushes = self._pushes(emulator, recipients[delivery_id])
            records = attempts(delivery_id)
            if not pushes:
                self._judge_missing(report, delivery_id, due, records)
                continue
            report.delivered += 1
            if len(pushes) > 1:
                report.duplicated.append(delivery_id)
            earned = earned_backoff(records, self.scenario.retry_after)
            delivered_at = datetime.fromtimestamp(pushes[0]["time"], UTC)
            lateness = (delivered_at - due).total_seconds() - earned
            report.worst_lateness = max(report.worst_lateness, lateness)
            if lateness > LATE_AFTER:
                report.late.append((delivery_id, round(lateness, 1)))
        for delivery_id, _ in sorted(report.late, key=lambda item: -item[1])[:3]:
            due = self.planned_due[delivery_id]
            report.late_timelines[delivery_id] = [
                (round(r["time"] - due.timestamp(), 1), r["status"], r["fault"])
                for r in attempts(delivery_id)
            ]
        with self.engine.connect() as conn:
            report.delivery_states = Counter(
                dict(
                    conn.execute(
                        text("SELECT state, count(*) FROM deliveries GROUP BY state")
                    ).all()
                )
            )
            event_ids = [e for c in chatters for e in c.event_ids]
            states = dict(
                conn.execute(
                    text(
                        "SELECT webhook_event_id, state FROM webhook_events"
                        " WHERE webhook_event_id = ANY(:ids)"
                    ),
                    {"ids": event_ids},
                ).all()
            )
        for event_id in event_ids:
            state = str(states.get(event_id, "missing"))
            if state not in ("handled", "ignored"):
                report.unhandled_events[event_id] = state
        for chatter in chatters:
            if chatter.user_id is None:
                continue
            inbox = emulator.inbox(chatter.user_id)
            if not any("友だち追加" in json.dumps(m["message"], ensure_ascii=False) for m in inbox):
                report.ungreeted.append(chatter.user_id)
            answers = len(self._answers(emulator, chatter.user_id))
            if answers != len(chatter.event_ids):
                report.chat_answers_wrong[chatter.user_id] = f"{answers}/{len(chatter.event_ids)}"
                report.chat_traces[chatter.user_id] = self._chat_trace(emulator, chatter)

    def _chat_trace(self, emulator: EmulatorServer, chatter: Chatter) -> list[str]:
        """Each of a chatter's events: its row, its outbound log, LINE's answers to its replies
        and the pushes to the chatter, in seconds after the webhook went out."""
        assert chatter.user_id is not None
        replies: dict[str, list[dict[str, Any]]] = {}
        for record in emulator.requests("/v2/bot/message/reply"):
            token = (record.get("body") or {}).get("replyToken")
            replies.setdefault(str(token), []).append(record)
        pushes = [
            r
            for r in emulator.requests("/v2/bot/message/push")
            if (r.get("body") or {}).get("to") == chatter.user_id
        ]
        lines = []
        with self.engine.connect() as conn:
            for event_id, token, sent_at in chatter.sent:
                row = conn.execute(
                    text(
                        "SELECT state, error, received_at, handled_at FROM webhook_events"
                        " WHERE webhook_event_id = :id"
                    ),
                    {"id": event_id},
                ).first()
                logged = conn.execute(
                    text(
                        "SELECT status, line_request_id, created_at FROM conversation_messages"
                        " WHERE webhook_event_id = :id AND direction = 'out' ORDER BY id"
                    ),
                    {"id": event_id},
                ).all()

                def since(moment: datetime | None, sent_at: float = sent_at) -> str:
                    return "-" if moment is None else f"{moment.timestamp() - sent_at:.1f}s"

                answers = [
                    f"{r['time'] - sent_at:.1f}s {r['status']} {r['fault'] or ''}".strip()
                    for r in replies.get(str(token), [])
                ]
                state = row and (str(row[0]), row[1], since(row[2]), since(row[3]))
                lines.append(
                    f"event {event_id}: row {state}; "
                    f"log {[(s, rid, since(at)) for s, rid, at in logged]}; replies {answers}"
                )
        first = chatter.sent[0][2] if chatter.sent else 0.0
        lines.append(
            "pushes: "
            + str(
                [
                    (
                        f"{r['time'] - first:.1f}s",
                        r["status"],
                        r["fault"],
                        r["headers"].get("x-line-retry-key"),
                    )
                    for r in pushes
                ]
            )
        )
        lines.append(
            "inbox: " + str([(m["via"], m["requestId"]) for m in emulator.inbox(chatter.user_id)])
        )
        return lines


def earned_backoff(records: list[dict[str, Any]], retry_after: float) -> float:
    """The waits the engine's backoff allows for the failed answers before the first delivery.

    A 5xx or 429 answer earns the next backoff step (a 429 at least its Retry-After); an
    answer that delivered (200, even one too late for the client) or a 409 ends the count.
    """
    earned = 0.0
    failures = 0
    for record in records:
        if record["status"] in (200, 409):
            break
        if record["status"] == 429 or record["status"] >= 500:
            wait = float(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])
            earned += max(wait, retry_after) if record["status"] == 429 else wait
            failures += 1
    return earned


@contextmanager
def log_directory(keep: Path | None = None) -> Iterator[Path]:
    """Where the processes write their logs: ``keep``, or a temporary directory."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="chaos-logs-") as name:
        yield Path(name)


def postgres_available(url: str | None) -> bool:
    """True when ``url`` is a PostgreSQL URL."""
    return bool(url) and make_url(url).get_backend_name() == "postgresql"


def chaos_database_url(url: str) -> str:
    """A database of the run's own next to ``url``'s (``<name>_chaos``)."""
    parsed = make_url(url)
    return parsed.set(
        drivername="postgresql", database=f"{parsed.database}_chaos"
    ).render_as_string(hide_password=False)
