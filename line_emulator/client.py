"""``EmulatorClient``: drive a running emulator's ``/_emulator`` control API over HTTP.

For tests and tools in another process than the emulator (dev mode, end-to-end runs).
Method names match ``EmulatorServer``; results are plain JSON values.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["EmulatorClient", "EmulatorClientError"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorClientError(Exception):
    """The control API answered with an error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class EmulatorClient:
    """Control API client for an emulator at ``base_url`` (e.g. ``http://127.0.0.1:8081``)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        url = f"{self.base_url}/_emulator/{path}"
        if query:
            clean = {key: value for key, value in query.items() if value is not None}
            if clean:
                url += "?" + urllib.parse.urlencode(clean)
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", "")
            except ValueError:
                message = exc.reason
            raise EmulatorClientError(exc.code, str(message)) from None

    def health(self) -> dict[str, Any]:
        """``{"ok": true, "botUserId": ...}`` when the emulator is up."""
        return self._call("GET", "health")

    def wait_until_ready(self, timeout: float = 10.0) -> None:
        """Poll ``health`` until the emulator answers or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.health()
                return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def requests(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded API requests (``path`` may be a glob)."""
        return self._call("GET", "requests", query={"path": path, "method": method})

    def clear_requests(self) -> None:
        """Forget recorded requests."""
        self._call("DELETE", "requests")

    def stats(self) -> dict[str, Any]:
        """Response counts by ``METHOD path status`` and quota usage."""
        return self._call("GET", "stats")

    def add_user(self, **profile: Any) -> dict[str, Any]:
        """Register a shopper; camelCase fields (``displayName``...) are optional."""
        return self._call("POST", "users", profile)

    def add_users(self, count: int) -> list[dict[str, Any]]:
        """Register ``count`` random shoppers."""
        return self._call("POST", "users", {"count": count})

    def users(self) -> list[dict[str, Any]]:
        """All shoppers."""
        return self._call("GET", "users")

    def user(self, user_id: str) -> dict[str, Any]:
        """One shopper."""
        return self._call("GET", f"users/{user_id}")

    def update_user(self, user_id: str, **changes: Any) -> dict[str, Any]:
        """Change a shopper's profile or state without a webhook."""
        return self._call("PATCH", f"users/{user_id}", changes)

    def inbox(self, user_id: str) -> list[dict[str, Any]]:
        """Messages delivered to a shopper."""
        return self._call("GET", f"users/{user_id}/inbox")

    def undelivered(self, user_id: str) -> list[dict[str, Any]]:
        """Messages accepted but not delivered to a shopper."""
        return self._call("GET", f"users/{user_id}/undelivered")

    def fail_next(
        self,
        status: int,
        n: int | None = 1,
        path: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        *,
        method: str | None = None,
        latency: float = 0.0,
        deliver: bool = False,
    ) -> list[dict[str, Any]]:
        """Inject a fault (see ``LineEmulator.fail_next``)."""
        return self._call(
            "POST",
            "faults",
            {
                "status": status,
                "n": n,
                "path": path,
                "body": body,
                "retryAfter": retry_after,
                "method": method,
                "latency": latency,
                "deliver": deliver,
            },
        )

    def slow_next(
        self, seconds: float, n: int | None = 1, path: str | None = None, method: str | None = None
    ) -> list[dict[str, Any]]:
        """Delay matching API requests."""
        return self._call(
            "POST",
            "faults",
            {"status": None, "latency": seconds, "n": n, "path": path, "method": method},
        )

    def set_fault_rates(
        self,
        path: str = "*",
        *,
        method: str | None = None,
        error: float = 0.0,
        throttle: float = 0.0,
        stall: float = 0.0,
        error_status: int = 500,
        retry_after: float | None = 1.0,
        stall_seconds: float = 15.0,
    ) -> list[dict[str, Any]]:
        """Fail a share of matching requests (see ``LineEmulator.set_fault_rates``)."""
        return self._call(
            "POST",
            "fault-rates",
            {
                "path": path,
                "method": method,
                "error": error,
                "throttle": throttle,
                "stall": stall,
                "errorStatus": error_status,
                "retryAfter": retry_after,
                "stallSeconds": stall_seconds,
            },
        )

    def fault_rates(self) -> list[dict[str, Any]]:
        """Fault-rate rules with the faults each injected so far."""
        return self._call("GET", "fault-rates")

    def clear_fault_rates(self) -> None:
        """Drop every fault-rate rule."""
        self._call("DELETE", "fault-rates")

    def seed_faults(self, seed: int | None) -> None:
        """Restart the fault-rate generator from ``seed``."""
        self._call("PUT", "fault-rates/seed", {"seed": seed})

    def faults(self) -> list[dict[str, Any]]:
        """Pending injected faults."""
        return self._call("GET", "faults")

    def clear_faults(self) -> None:
        """Drop pending one-shot faults and every fault-rate rule."""
        self._call("DELETE", "faults")

    def send_follow(
        self, user_id: str | None = None, is_unblocked: bool | None = None, **profile: Any
    ) -> dict[str, Any]:
        """The shopper adds (or unblocks) the account; returns the webhook result."""
        return self._call(
            "POST", "events/follow", {"userId": user_id, "isUnblocked": is_unblocked, **profile}
        )

    def send_unfollow(self, user_id: str) -> dict[str, Any]:
        """The shopper blocks the account."""
        return self._call("POST", "events/unfollow", {"userId": user_id})

    def send_text(self, user_id: str, text: str) -> dict[str, Any]:
        """The shopper sends a text message."""
        return self._call("POST", "events/text", {"userId": user_id, "text": text})

    def add_chat(
        self, kind: str = "group", chat_id: str | None = None, members: list[str] | None = None
    ) -> dict[str, Any]:
        """A group or room with the bot in it."""
        return self._call(
            "POST", "chats", {"type": kind, "chatId": chat_id, "members": members or []}
        )

    def chat(self, chat_id: str) -> dict[str, Any]:
        """A chat's members, whether the bot is in it, and what the bot sent there."""
        return self._call("GET", f"chats/{chat_id}")

    def send_chat_text(self, chat_id: str, text: str, user_id: str | None = None) -> dict[str, Any]:
        """A member writes in a group or room (without ``user_id``: no userId in the source)."""
        return self._call(
            "POST", "events/chatText", {"chatId": chat_id, "text": text, "userId": user_id}
        )

    def send_join(self, chat_id: str) -> dict[str, Any]:
        """The bot is added to a group or room."""
        return self._call("POST", "events/join", {"chatId": chat_id})

    def send_leave(self, chat_id: str) -> dict[str, Any]:
        """The bot is removed from a group or room."""
        return self._call("POST", "events/leave", {"chatId": chat_id})

    def send_member_joined(self, chat_id: str, user_ids: list[str]) -> dict[str, Any]:
        return self._call("POST", "events/memberJoined", {"chatId": chat_id, "userIds": user_ids})

    def send_member_left(self, chat_id: str, user_ids: list[str]) -> dict[str, Any]:
        return self._call("POST", "events/memberLeft", {"chatId": chat_id, "userIds": user_ids})

    def send_unsend(
        self, user_id: str, message_id: str, chat_id: str | None = None
    ) -> dict[str, Any]:
        """A user takes back a message."""
        return self._call(
            "POST",
            "events/unsend",
            {"userId": user_id, "messageId": message_id, "chatId": chat_id},
        )

    def send_standby_text(self, user_id: str, text: str) -> dict[str, Any]:
        """A text in standby mode (another channel has chat control)."""
        return self._call("POST", "events/standbyText", {"userId": user_id, "text": text})

    def send_activated(self, user_id: str, expire_at: int | None = None) -> dict[str, Any]:
        return self._call("POST", "events/activated", {"userId": user_id, "expireAt": expire_at})

    def send_deactivated(self, user_id: str) -> dict[str, Any]:
        return self._call("POST", "events/deactivated", {"userId": user_id})

    def send_postback(
        self, user_id: str, data: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The shopper taps a postback action."""
        return self._call(
            "POST", "events/postback", {"userId": user_id, "data": data, "params": params}
        )

    def send_account_link(
        self, user_id: str, nonce: str, result: str = "ok", link_token: str | None = None
    ) -> dict[str, Any]:
        """LINE reports an account-link outcome."""
        return self._call(
            "POST",
            "events/accountLink",
            {"userId": user_id, "nonce": nonce, "result": result, "linkToken": link_token},
        )

    def redeliver(self, webhook_event_id: str) -> dict[str, Any]:
        """Redeliver an earlier event."""
        return self._call("POST", "redeliver", {"webhookEventId": webhook_event_id})

    def webhooks(self) -> list[dict[str, Any]]:
        """Webhooks sent so far."""
        return self._call("GET", "webhooks")

    def link_tokens(self) -> list[dict[str, Any]]:
        """Issued link tokens."""
        return self._call("GET", "link-tokens")

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward."""
        self._call("POST", "clock/advance", {"seconds": seconds})

    def set_webhook_url(self, url: str | None) -> None:
        """Point webhooks at the bot."""
        self._call("PUT", "config", {"webhookUrl": url})

    def configure(self, **config: Any) -> dict[str, Any]:
        """Change ``webhookUrl``, ``replyTokenTtl``, ``monthlyQuota`` or ``autoCreateUsers``."""
        return self._call("PUT", "config", config)

    def reset(self) -> None:
        """Forget all state."""
        self._call("POST", "reset")

    def rich_menu_state(self) -> dict[str, Any]:
        """Rich menus (with image facts), the default, the aliases and per-user links."""
        return self._call("GET", "richmenus")
