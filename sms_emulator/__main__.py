"""Run the SMS emulator in the foreground until SIGTERM or SIGINT.

    python -m sms_emulator --port 8083 --account-sid AC... --auth-token T \\
        --inbound-url http://127.0.0.1:8000/sms/inbound --auto-deliver
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from types import FrameType

from sms_emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sms_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--account-sid", default=os.environ.get("SMS_ACCOUNT_SID"))
    parser.add_argument("--auth-token", default=os.environ.get("SMS_AUTH_TOKEN"))
    parser.add_argument("--number", action="append", help="a sender number of the account")
    parser.add_argument("--inbound-url", help="the bot's inbound SMS webhook")
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per second")
    parser.add_argument(
        "--auto-deliver", action="store_true", help="deliver each message at once (callbacks)"
    )
    args = parser.parse_args(argv)
    if not args.account_sid or not args.auth_token:
        parser.error(
            "--account-sid and --auth-token (or SMS_ACCOUNT_SID, SMS_AUTH_TOKEN) are needed"
        )
    server = EmulatorServer(
        args.account_sid,
        args.auth_token,
        host=args.host,
        port=args.port,
        numbers=args.number or ["+815011112222"],
        inbound_url=args.inbound_url,
        rate_limit=args.rate_limit,
        auto_deliver=args.auto_deliver,
    )
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    print(f"SMS emulator on {server.base_url}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
