"""The few calls the playground makes to the LINE emulator's control API (`/_emulator/...`).

Plain HTTP, not the emulator package: the bot never imports the emulator. Only works when
LINE_API_BASE_URL points at an emulator; against the real LINE API every call is refused.
"""

from __future__ import annotations

import html
import re
from typing import Any

import requests

from bot.core.settings import REAL_LINE_API

TIMEOUT = (3.0, 30.0)  # a webhook round trip through the bot can take a moment
# Switches of the fault panel → one fault-rate rule on the message endpoints.
FAULT_PATH = "/v2/bot/message/*"
FAULTS = {
    "5xx": {"error": 0.5, "errorStatus": 500},
    "429": {"throttle": 0.5, "retryAfter": 1},
    "slow": {"stall": 0.3, "stallSeconds": 12},
}


class EmulatorUnavailable(Exception):
    """No emulator is configured, or it did not answer."""


class EmulatorRefused(Exception):
    """The emulator answered with an error (bad user id and the like)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Emulator:
    """Control API client for the emulator at the bot's LINE_API_BASE_URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        if self.base_url.startswith(REAL_LINE_API):
            raise EmulatorUnavailable("LINE_API_BASE_URL is the real LINE API, not an emulator")
        try:
            response = requests.request(
                method, f"{self.base_url}/_emulator/{path}", json=body, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise EmulatorUnavailable(
                f"the LINE emulator did not answer ({type(exc).__name__})"
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.status_code >= 400:
            message = payload.get("error") if isinstance(payload, dict) else None
            raise EmulatorRefused(response.status_code, str(message or response.reason))
        return payload

    def users(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "users"))

    def add_user(self, user_id: str | None, display_name: str) -> dict[str, Any]:
        body: dict[str, Any] = {"displayName": display_name, "followed": False}
        if user_id:
            body["userId"] = user_id
        return dict(self._call("POST", "users", body))

    def inbox(self, user_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"users/{user_id}/inbox"))

    def webhooks(self) -> list[dict[str, Any]]:
        """Every webhook the emulator sent to the bot, oldest first."""
        return list(self._call("GET", "webhooks"))

    def event(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send a shopper event (follow, unfollow, text, postback): a signed webhook."""
        return dict(self._call("POST", f"events/{kind}", body))

    def open_account_link(self, query: str) -> tuple[int, str]:
        """The shopper's browser at LINE's account-link URL (`linkToken`, `nonce`): the
        emulator spends the token and sends the accountLink webhook. (status, its message)."""
        if self.base_url.startswith(REAL_LINE_API):
            raise EmulatorUnavailable("LINE_API_BASE_URL is the real LINE API, not an emulator")
        try:
            response = requests.get(
                f"{self.base_url}/dialog/bot/accountLink?{query}", timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise EmulatorUnavailable(
                f"the LINE emulator did not answer ({type(exc).__name__})"
            ) from None
        # The page says what happened in its one paragraph.
        said = re.search(r"<p>(.*?)</p>", response.text, re.S)
        return response.status_code, html.unescape(said[1]) if said else response.reason

    def faults(self) -> dict[str, bool]:
        """Which fault switches are on."""
        rules = self._call("GET", "fault-rates")
        rule = next((r for r in rules if r.get("path") == FAULT_PATH), None) or {}
        return {
            "5xx": bool(rule.get("error")),
            "429": bool(rule.get("throttle")),
            "slow": bool(rule.get("stall")),
        }

    def set_faults(self, switches: dict[str, bool]) -> dict[str, bool]:
        """Replace the message endpoints' fault rule with the switches that are on."""
        body: dict[str, Any] = {"path": FAULT_PATH, "error": 0, "throttle": 0, "stall": 0}
        for name, on in switches.items():
            if on:
                body.update(FAULTS[name])
        self._call("POST", "fault-rates", body)
        return self.faults()
