"""LINE's account-link flow, played through by the playground's shopper and shop.

The bot's side is real: the shopper sends 「会員連携」 (a signed webhook), the bot asks LINE
(the emulator) for a link token and replies with the shop's login link carrying it. Here the
rest happens as the shopper and the shop would do it, every step over the real interfaces:
the shopper taps that link (the newest login link the bot sent them, read from their
emulated LINE); the shop, once the shopper logged in as a member, asks the bot for a nonce
(`POST /api/v1/link-nonces`, signed); the shopper's browser follows the answer to LINE's
account-link URL, where the emulator spends the token and sends the `accountLink` webhook.
The bot then links them and tells the shopper, which the chat shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bot.core.services import Services
from bot.playground.emulator import Emulator
from bot.playground.shop import signed_request

START_TEXT = "会員連携"  # what the shopper types to start the flow (the bot's keyword)


class AccountLinkError(Exception):
    """A step of the flow was refused: the HTTP status for the page and the reason."""

    def __init__(self, message: str, status: int, steps: list[str]) -> None:
        super().__init__(message)
        self.status = status
        self.steps = steps


@dataclass
class AccountLink:
    """What happened: each step as one line for the page's log."""

    link_token: str
    nonce: str = ""
    steps: list[str] = field(default_factory=list)


def login_token(services: Services, emulator: Emulator, line_user_id: str) -> str | None:
    """The link token of the newest shop login link the bot sent this shopper, if any."""
    base = urlsplit(services.settings.shop_link_url)
    for entry in reversed(emulator.inbox(line_user_id)):
        for uri in _uris(entry.get("message")):
            parts = urlsplit(uri)
            if (parts.scheme, parts.netloc, parts.path) != (base.scheme, base.netloc, base.path):
                continue
            token = parse_qs(parts.query).get("linkToken", [""])[0]
            if token:
                return token
    return None


def log_in_and_link(
    services: Services, emulator: Emulator, line_user_id: str, member_id: str
) -> AccountLink:
    """The shopper opens the login link, logs in as `member_id`, and LINE links them."""
    token = login_token(services, emulator, line_user_id)
    if token is None:
        raise AccountLinkError(
            f"no login link yet: the shopper must first send 「{START_TEXT}」", 409, []
        )
    flow = AccountLink(token)
    flow.steps.append(f"ショップのログイン画面を開きました (linkToken {token[:6]}…)")
    answer = signed_request(
        services,
        "POST",
        "/api/v1/link-nonces",
        {"member_id": member_id, "link_token": token},
    )
    if answer.status != 201 or not isinstance(answer.body, dict):
        reason = _api_reason(answer.body)
        raise AccountLinkError(
            f"the shop API refused the nonce ({answer.status}: {reason})",
            answer.status if 400 <= answer.status < 500 else 502,
            flow.steps,
        )
    flow.nonce = str(answer.body["nonce"])
    flow.steps.append(f"会員 {member_id} でログインし、ショップが nonce を発行しました")
    # redirect_url names LINE's real address; the shopper's LINE here is the emulator.
    query = urlencode({"linkToken": token, "nonce": flow.nonce})
    status, page = emulator.open_account_link(query)
    if status != 200:
        raise AccountLinkError(f"LINE refused the account link: {page}", 400, flow.steps)
    flow.steps.append("LINE の連携画面を開き、accountLink イベントが送られました")
    return flow


def _uris(node: Any) -> list[str]:
    """Every `uri` of a message's actions, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        uri = node.get("uri")
        if isinstance(uri, str):
            found.append(uri)
        for value in node.values():
            found.extend(_uris(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_uris(value))
    return found


def _api_reason(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")
    return json.dumps(body, ensure_ascii=False)[:200]
