"""Groups, rooms, standby mode and the other webhook events beyond one-to-one chats.

``ChatEvents`` is mixed into ``LineEmulator``: it keeps the group chats and rooms the bot is
in, answers ``POST /v2/bot/group/{groupId}/leave`` and ``/v2/bot/room/{roomId}/leave``,
delivers replies and pushes to a chat, and sends the webhook events of LINE's
``webhook.yml`` that a one-to-one shopper cannot produce: messages from a group or room
(with or without ``userId``: LINE leaves it out for users of some clients), ``join``,
``leave``, ``memberJoined``, ``memberLeft``, ``unsend``, events in ``standby`` mode, and
``activated`` / ``deactivated``.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from line_emulator.ids import new_message_id, new_quote_token

if TYPE_CHECKING:
    from line_emulator.core import ApiResponse, WebhookResult, _Call, _ReplyGroup

__all__ = ["REPLY_FIELDS", "PUSH_FIELDS", "ChatEvents", "unknown_properties"]

CHAT_KINDS = {"group": "groupId", "room": "roomId"}
_PREFIX = {"group": "C", "room": "R"}
# The top-level properties LINE takes in a reply or push body; anything else is refused.
REPLY_FIELDS = frozenset({"replyToken", "messages", "notificationDisabled"})
PUSH_FIELDS = frozenset({"to", "messages", "notificationDisabled", "customAggregationUnits"})


def unknown_properties(body: dict[str, Any], allowed: frozenset[str]) -> list[dict[str, str]]:
    """Error details for top-level properties LINE does not know in a request body."""
    return [{"message": "unknown field", "property": key} for key in body if key not in allowed]


def new_chat_id(kind: str) -> str:
    """A group (C…) or room (R…) id in LINE's format."""
    return _PREFIX[kind] + secrets.token_hex(16)


@dataclass
class _Chat:
    chat_id: str
    kind: str
    members: list[str] = field(default_factory=list)
    bot_present: bool = True
    left_by_api: bool = False
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))

    def to_dict(self) -> dict[str, Any]:
        return {
            "chatId": self.chat_id,
            "type": self.kind,
            "members": list(self.members),
            "botPresent": self.bot_present,
            "leftByApi": self.left_by_api,
            "messages": list(self.messages),
        }


class ChatEvents:
    """Group and room chats and the non-one-to-one webhook events (mixed into LineEmulator)."""

    _chats: dict[str, _Chat]

    def _reset_chats(self) -> None:
        self._chats = {}

    # -- chats ------------------------------------------------------------------------------

    def add_chat(
        self, kind: str = "group", chat_id: str | None = None, members: list[str] | None = None
    ) -> dict[str, Any]:
        """A group chat or room with the bot in it (no webhook: see ``send_join``)."""
        if kind not in CHAT_KINDS:
            raise self._error(f"kind must be 'group' or 'room', got {kind!r}")
        chat_id = chat_id or new_chat_id(kind)
        if not chat_id.startswith(_PREFIX[kind]):
            raise self._error(f"a {kind} id starts with {_PREFIX[kind]!r}")
        with self._lock:
            chat = self._chats[chat_id] = _Chat(chat_id, kind, list(members or []))
            return chat.to_dict()

    def chat(self, chat_id: str) -> dict[str, Any]:
        """A chat's members, whether the bot is in it, and what the bot sent there."""
        with self._lock:
            return self._get_chat(chat_id).to_dict()

    def chats(self) -> list[dict[str, Any]]:
        with self._lock:
            return [chat.to_dict() for chat in self._chats.values()]

    def _get_chat(self, chat_id: str) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise self._error(f"no group or room {chat_id!r}; add_chat() first")
        return chat

    def _chat_present(self, chat_id: str) -> bool:
        chat = self._chats.get(chat_id)
        return chat is not None and chat.bot_present

    def _deliver_to_chat(
        self, chat_id: str, body: dict[str, Any], via: str, request_id: str, now: float
    ) -> list[dict[str, str]]:
        """Keep messages sent to a group or room; return sentMessages (caller holds the lock)."""
        chat = self._chats[chat_id]
        sent = []
        for message in body["messages"]:
            entry = {"id": new_message_id(), "via": via, "requestId": request_id, "time": now}
            chat.messages.append({**entry, "message": message})
            sent.append({"id": entry["id"]})
        return sent

    # -- Messaging API: leave ------------------------------------------------------------------

    def _leave_group(self, call: _Call) -> ApiResponse:
        return self._leave_chat(call, "group")

    def _leave_room(self, call: _Call) -> ApiResponse:
        return self._leave_chat(call, "room")

    def _leave_chat(self, call: _Call, kind: str) -> ApiResponse:
        from line_emulator.core import NOT_FOUND, ApiResponse, _invalid_parameter

        chat_id = call.param or ""
        if not chat_id.startswith(_PREFIX[kind]) or len(chat_id) != 33:
            return _invalid_parameter(CHAT_KINDS[kind])
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None or chat.kind != kind or not chat.bot_present:
                return ApiResponse(404, dict(NOT_FOUND))
            chat.bot_present, chat.left_by_api = False, True
        return ApiResponse(200, {})

    # -- webhooks ------------------------------------------------------------------------------

    def _chat_event(
        self, kind: str, chat_id: str, user_id: str | None, now: float
    ) -> dict[str, Any]:
        event = self._base_event(kind, None, now)
        chat = self._chats.get(chat_id)
        chat_kind = chat.kind if chat is not None else "group"
        source: dict[str, Any] = {"type": chat_kind, CHAT_KINDS[chat_kind]: chat_id}
        if user_id is not None:
            source["userId"] = user_id
        # Keep LINE's key order: type, source, timestamp … (the source goes after the type).
        return {"type": event.pop("type"), "source": source, **event}

    def _present_chat(self, chat_id: str) -> _Chat:
        with self._lock:
            chat = self._get_chat(chat_id)
            if not chat.bot_present:
                raise self._error(f"the bot is not in {chat_id}; send_join() first")
            return chat

    def send_chat_text(self, chat_id: str, text: str, user_id: str | None = None) -> WebhookResult:
        """A member writes in a group or room. Without ``user_id`` the source has no
        ``userId``, as LINE sends for users whose client does not share it."""
        self._present_chat(chat_id)
        now = self.clock.now()
        event = self._chat_event("message", chat_id, user_id, now)
        group = self._issue_reply_token(event, chat_id, now)
        event["message"] = {
            "id": new_message_id(),
            "type": "text",
            "quoteToken": new_quote_token(),
            "text": text,
        }
        return self._send([event], [group])

    def send_join(self, chat_id: str) -> WebhookResult:
        """The bot is added to a group or room (the chat is created if unknown)."""
        with self._lock:
            if chat_id not in self._chats:
                kind = "room" if chat_id.startswith("R") else "group"
                self.add_chat(kind, chat_id)
            self._chats[chat_id].bot_present = True
        now = self.clock.now()
        event = self._chat_event("join", chat_id, None, now)
        group = self._issue_reply_token(event, chat_id, now)
        return self._send([event], [group])

    def send_leave(self, chat_id: str) -> WebhookResult:
        """The bot left, or a member removed it from, a group or room (no reply token)."""
        with self._lock:
            self._get_chat(chat_id).bot_present = False
        now = self.clock.now()
        return self._send([self._chat_event("leave", chat_id, None, now)], [None])

    def send_member_joined(self, chat_id: str, user_ids: list[str]) -> WebhookResult:
        """Users join a group or room the bot is in."""
        chat = self._present_chat(chat_id)
        with self._lock:
            chat.members.extend(u for u in user_ids if u not in chat.members)
        now = self.clock.now()
        event = self._chat_event("memberJoined", chat_id, None, now)
        group = self._issue_reply_token(event, chat_id, now)
        event["joined"] = {"members": [{"type": "user", "userId": u} for u in user_ids]}
        return self._send([event], [group])

    def send_member_left(self, chat_id: str, user_ids: list[str]) -> WebhookResult:
        """Users leave a group or room the bot is in (no reply token)."""
        chat = self._present_chat(chat_id)
        with self._lock:
            chat.members[:] = [u for u in chat.members if u not in user_ids]
        now = self.clock.now()
        event = self._chat_event("memberLeft", chat_id, None, now)
        event["left"] = {"members": [{"type": "user", "userId": u} for u in user_ids]}
        return self._send([event], [None])

    def send_unsend(
        self, user_id: str, message_id: str, chat_id: str | None = None
    ) -> WebhookResult:
        """A user takes back a message they sent (no reply token)."""
        now = self.clock.now()
        if chat_id is not None:
            event = self._chat_event("unsend", chat_id, user_id, now)
        else:
            self._get_user_locked(user_id)
            event = self._base_event("unsend", user_id, now)
        event["unsend"] = {"messageId": message_id}
        return self._send([event], [None])

    def send_standby_text(self, user_id: str, text: str) -> WebhookResult:
        """A shopper writes while another channel has chat control: ``mode: standby``, and
        no reply token (the bot must not answer)."""
        self._active_user(user_id)
        now = self.clock.now()
        event = self._base_event("message", user_id, now)
        event["mode"] = "standby"
        event["message"] = {
            "id": new_message_id(),
            "type": "text",
            "quoteToken": new_quote_token(),
            "text": text,
        }
        return self._send([event], [None])

    def send_activated(self, user_id: str, expire_at: int | None = None) -> WebhookResult:
        """This channel gets chat control of the user's chat until ``expire_at`` (epoch ms;
        one hour from now by default)."""
        self._get_user_locked(user_id)
        now = self.clock.now()
        event = self._base_event("activated", user_id, now)
        expire = expire_at if expire_at is not None else int(now * 1000) + 3_600_000
        event["chatControl"] = {"expireAt": expire}
        return self._send([event], [None])

    def send_deactivated(self, user_id: str) -> WebhookResult:
        """Another channel takes chat control of the user's chat."""
        self._get_user_locked(user_id)
        now = self.clock.now()
        return self._send([self._base_event("deactivated", user_id, now)], [None])

    @staticmethod
    def _error(message: str) -> Exception:
        from line_emulator.core import EmulatorError

        return EmulatorError(message)

    if TYPE_CHECKING:  # provided by LineEmulator
        from threading import RLock

        from line_emulator.clock import Clock
        from line_emulator.core import User

        _lock: RLock
        clock: Clock

        def _base_event(self, kind: str, user_id: str | None, now: float) -> dict[str, Any]: ...
        def _issue_reply_token(
            self, event: dict[str, Any], user_id: str, now: float
        ) -> _ReplyGroup: ...
        def _send(
            self, events: list[dict[str, Any]], groups: list[_ReplyGroup | None]
        ) -> WebhookResult: ...
        def _active_user(self, user_id: str) -> User: ...
        def _get_user_locked(self, user_id: str) -> User: ...


def control_event(emulator: ChatEvents, kind: str, body: dict[str, Any]) -> WebhookResult | None:
    """``POST /_emulator/events/<kind>`` for the events above; None for another kind."""
    if kind == "chatText":
        return emulator.send_chat_text(
            _need(body, "chatId"), _need(body, "text"), body.get("userId")
        )
    if kind == "join":
        return emulator.send_join(_need(body, "chatId"))
    if kind == "leave":
        return emulator.send_leave(_need(body, "chatId"))
    if kind == "memberJoined":
        return emulator.send_member_joined(_need(body, "chatId"), list(_need(body, "userIds")))
    if kind == "memberLeft":
        return emulator.send_member_left(_need(body, "chatId"), list(_need(body, "userIds")))
    if kind == "unsend":
        return emulator.send_unsend(
            _need(body, "userId"), _need(body, "messageId"), body.get("chatId")
        )
    if kind == "standbyText":
        return emulator.send_standby_text(_need(body, "userId"), _need(body, "text"))
    if kind == "activated":
        return emulator.send_activated(_need(body, "userId"), body.get("expireAt"))
    if kind == "deactivated":
        return emulator.send_deactivated(_need(body, "userId"))
    return None


def control_chats(
    emulator: ChatEvents, method: str, rest: list[str], body: dict[str, Any]
) -> tuple[int, Any] | None:
    """``/_emulator/chats``: list (GET), add (POST ``{"type", "chatId", "members"}``), one
    chat (GET ``/chats/<id>``); None for anything else."""
    if not rest and method == "GET":
        return 200, emulator.chats()
    if not rest and method == "POST":
        return 201, emulator.add_chat(
            body.get("type", "group"), body.get("chatId"), body.get("members")
        )
    if len(rest) == 1 and method == "GET":
        return 200, emulator.chat(rest[0])
    return None


def _need(body: dict[str, Any], key: str) -> Any:
    if body.get(key) is None:
        raise ChatEvents._error(f"{key} is required")
    return body[key]
