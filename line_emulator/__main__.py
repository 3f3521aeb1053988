"""Run the LINE emulator in the foreground until SIGTERM or SIGINT.

    python -m line_emulator --port 8081 --channel-secret S --access-token T \\
        --webhook-url http://127.0.0.1:8000/callback

Secrets may also come from LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN.  Fault rates
(``--faults``) may come from EMULATOR_FAULTS and their seed from EMULATOR_FAULT_SEED:

    EMULATOR_FAULTS='path=/v2/bot/message/*,5xx=0.1,429=0.05,stall=0.02,stall-seconds=15'
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from line_emulator.clock import AdjustableClock, ManualClock
from line_emulator.core import EmulatorError, parse_fault_rates
from line_emulator.server import EmulatorServer


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m line_emulator", description="Emulated LINE Messaging API platform."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--channel-secret", default=os.environ.get("LINE_CHANNEL_SECRET"))
    parser.add_argument("--access-token", default=os.environ.get("LINE_CHANNEL_ACCESS_TOKEN"))
    parser.add_argument("--webhook-url", help="the bot's webhook endpoint")
    parser.add_argument("--reply-token-ttl", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--monthly-quota", type=int, help="message target limit (default: none)")
    parser.add_argument(
        "--auto-create-users",
        action="store_true",
        help="accept pushes to unknown well-formed user IDs by registering them",
    )
    parser.add_argument(
        "--seed-users", type=int, default=0, metavar="N", help="register N shoppers"
    )
    parser.add_argument(
        "--manual-clock", action="store_true", help="freeze time; move it with /_emulator/clock"
    )
    parser.add_argument(
        "--max-records", type=int, default=100_000, help="recorded requests kept (oldest dropped)"
    )
    parser.add_argument("--max-inbox", type=int, help="messages kept per shopper (default: all)")
    parser.add_argument(
        "--no-sdk-check",
        action="store_true",
        help="skip the line-bot-sdk shape check (LINE's limits are still checked)",
    )
    parser.add_argument(
        "--faults",
        action="append",
        metavar="SPEC",
        help="fail a share of API requests, e.g. 'path=/v2/bot/message/*,5xx=0.1,429=0.05,"
        "stall=0.02,stall-seconds=15,retry-after=1' (repeatable; rules may also be joined "
        "with ';'; default: $EMULATOR_FAULTS)",
    )
    parser.add_argument(
        "--fault-seed",
        type=int,
        default=_int_or_none(os.environ.get("EMULATOR_FAULT_SEED")),
        help="seed of the fault-rate draws, for runs that meet the same faults "
        "(default: $EMULATOR_FAULT_SEED, else unpredictable)",
    )
    parser.add_argument("--quiet", action="store_true", help="don't log one line per request")
    return parser


def _int_or_none(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value else None


def fault_rules(specs: Sequence[str] | None) -> list[dict[str, object]]:
    """The fault-rate rules of ``--faults`` options, or of EMULATOR_FAULTS when none given."""
    if not specs:
        specs = [os.environ.get("EMULATOR_FAULTS", "")]
    return [rule for spec in specs for rule in parse_fault_rates(spec)]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until a termination signal arrives."""
    args = build_parser().parse_args(argv)
    if not args.channel_secret or not args.access_token:
        print("--channel-secret and --access-token are required", file=sys.stderr)
        return 2
    try:
        rules = fault_rules(args.faults)
    except EmulatorError as exc:
        print(f"--faults: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    server = EmulatorServer(
        args.channel_secret,
        args.access_token,
        args.webhook_url,
        host=args.host,
        port=args.port,
        clock=ManualClock() if args.manual_clock else AdjustableClock(),
        reply_token_ttl=args.reply_token_ttl,
        monthly_quota=args.monthly_quota,
        auto_create_users=args.auto_create_users,
        max_records=args.max_records,
        max_inbox=args.max_inbox,
        sdk_check=not args.no_sdk_check,
        fault_seed=args.fault_seed,
    )
    try:
        for rule in rules:
            server.set_fault_rates(**rule)
    except (EmulatorError, TypeError) as exc:
        print(f"--faults: {exc}", file=sys.stderr)
        return 2
    for _ in range(args.seed_users):
        server.add_user()
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    logging.getLogger("line_emulator").warning(
        "LINE emulator listening on %s (webhook: %s, bot userId: %s)",
        server.base_url,
        server.webhook_url or "not set",
        server.bot_user_id,
    )
    for rule in server.fault_rates():
        logging.getLogger("line_emulator").warning(
            "injecting faults on %s: 5xx %.0f%%, 429 %.0f%%, stall %.0f%% (%gs)",
            rule["path"],
            rule["error"] * 100,
            rule["throttle"] * 100,
            rule["stall"] * 100,
            rule["stallSeconds"],
        )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        logging.getLogger("line_emulator").warning("LINE emulator stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
