"""Measure push throughput of a running emulator with keep-alive connections.

    python -m line_emulator.bench --url http://127.0.0.1:8081 --token T --seconds 10

Pushes a cart-reminder Flex bubble (or ``--text``) to shoppers registered through
the control API, from ``--threads`` keep-alive connections in this one process,
and prints pushes per second.  Only talks to the given emulator URL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
import uuid
from urllib.parse import urlsplit

from line_emulator.client import EmulatorClient


def cart_bubble(name: str) -> dict[str, object]:
    """A one-bubble cart reminder like the bot's."""
    return {
        "type": "flex",
        "altText": f"{name}さん、カートに商品が残っています",
        "contents": {
            "type": "bubble",
            "hero": {
                "type": "image",
                "url": "https://shop.example/img/item-1.jpg",
                "size": "full",
                "aspectRatio": "20:13",
                "aspectMode": "cover",
            },
            "body": {
                "type": "box",
                "layout": "vertical",
                "spacing": "sm",
                "contents": [
                    {
                        "type": "text",
                        "text": f"{name}さん、お買い忘れはありませんか？",
                        "wrap": True,
                    },
                    {"type": "text", "text": "オーガニックコットンTシャツ", "weight": "bold"},
                    {"type": "text", "text": "¥3,980", "color": "#999999"},
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
                            "label": "カートを見る",
                            "uri": "https://shop.example/cart?utm_source=line",
                        },
                    },
                    {
                        "type": "button",
                        "action": {
                            "type": "postback",
                            "label": "配信を停止する",
                            "data": "action=optout",
                        },
                    },
                ],
            },
        },
    }


def main() -> None:
    """Run the benchmark and print the result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8081")
    parser.add_argument("--token", required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--text", action="store_true", help="push a text message instead")
    args = parser.parse_args()

    control = EmulatorClient(args.url)
    control.wait_until_ready(timeout=30)
    users = [user["userId"] for user in control.add_users(args.users)]
    parts = urlsplit(args.url)
    deadline = time.monotonic() + args.seconds
    counts = [0] * args.threads
    errors = [0] * args.threads

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {
            "Authorization": f"Bearer {args.token}",
            "Content-Type": "application/json",
        }
        sent = 0
        while time.monotonic() < deadline:
            user = users[(index + sent * args.threads) % len(users)]
            message = (
                {"type": "text", "text": f"ご注文ありがとうございます #{sent}"}
                if args.text
                else cart_bubble(f"ユーザー{sent}")
            )
            body = json.dumps({"to": user, "messages": [message]}).encode()
            connection.request(
                "POST",
                "/v2/bot/message/push",
                body,
                {**headers, "X-Line-Retry-Key": str(uuid.uuid4())},
            )
            response = connection.getresponse()
            response.read()
            sent += 1
            if response.status == 200:
                counts[index] += 1
            else:
                errors[index] += 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = sum(counts)
    print(
        json.dumps(
            {
                "pushes": total,
                "errors": sum(errors),
                "seconds": round(elapsed, 2),
                "pushes_per_second": round(total / elapsed, 1),
                "threads": args.threads,
                "message": "text" if args.text else "flex bubble",
            }
        )
    )


if __name__ == "__main__":
    main()
