"""The only module that talks to the LINE Messaging API.

`LineGateway` is the interface the rest of the code uses; `SdkLineGateway` implements it over
line-bot-sdk v3's `MessagingApi` with explicit timeouts and typed errors, and
`InMemoryLineGateway` records calls for unit tests.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.core.settings import Settings

Message = dict[str, Any]
MONTHLY_LIMIT_TEXT = "monthly limit"
RETRY_KEY_NAMESPACE = uuid.UUID("6f1c2a0e-3b7d-4c55-9a51-2f0d8e6b9c11")


def retry_key_for(kind: str, ident: object) -> str:
    """A stable UUID retry key, so the same logical send always carries the same key."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"{kind}:{ident}"))


class LineError(Exception):
    """Any failed LINE API call."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        details: Sequence[dict[str, Any]] = (),
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.details = list(details)
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def retriable(self) -> bool:
        """Worth trying again later with the same retry key."""
        return False


class LineClientError(LineError):
    """A 4xx other than 429: our request is wrong; retrying will not help."""


class LineInvalidReplyToken(LineClientError):
    """The reply token was unknown, used or expired: nothing was sent."""


class LineRateLimited(LineError):
    """429 'Too many requests': back off and retry."""

    @property
    def retriable(self) -> bool:
        return True


class LineMonthlyLimit(LineError):
    """429 because the monthly message quota is used up: do not retry until next month."""


class LineServerError(LineError):
    """5xx from LINE: retry with backoff."""

    @property
    def retriable(self) -> bool:
        return True


class LineUnavailable(LineError):
    """Could not connect at all: the request was certainly not delivered."""

    @property
    def retriable(self) -> bool:
        return True


class LineTimeout(LineError):
    """Sent but no answer: LINE may or may not have accepted it (ambiguous)."""

    @property
    def retriable(self) -> bool:
        return True


@dataclass(frozen=True)
class SendResult:
    """What LINE said about an accepted send."""

    request_id: str | None
    duplicate: bool = False  # a retried key LINE had already accepted (409)


@dataclass(frozen=True)
class Profile:
    user_id: str
    display_name: str
    picture_url: str | None = None
    language: str | None = None
    status_message: str | None = None


@dataclass(frozen=True)
class MessageQuota:
    """This month's message count against the channel's limit (None: no limit set)."""

    limit: int | None
    used: int


class LineGateway(Protocol):
    """The LINE operations the bot uses."""

    def reply(self, reply_token: str, messages: Sequence[Message]) -> SendResult: ...

    def push(
        self, to: str, messages: Sequence[Message], *, retry_key: str | None = None
    ) -> SendResult: ...

    def get_profile(self, user_id: str) -> Profile: ...

    def issue_link_token(self, user_id: str) -> str: ...

    def show_loading(self, user_id: str, seconds: int = 5) -> None: ...

    def leave_group(self, group_id: str) -> None: ...

    def leave_room(self, room_id: str) -> None: ...

    def message_quota(self) -> MessageQuota: ...


class SdkLineGateway:
    """LineGateway over line-bot-sdk v3 with timeouts (the SDK sets none by default)."""

    def __init__(
        self,
        access_token: str,
        base_url: str,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        pool_size: int = 16,
    ) -> None:
        # Imported here: linebot.v3.messaging takes ~0.7 s and 70 MB, and the webhook path
        # never needs it. Each process builds one gateway and keeps it.
        from linebot.v3 import messaging

        self._m = messaging
        config = messaging.Configuration(host=base_url, access_token=access_token)
        config.retries = False  # our jobs decide about retries; urllib3 must not resend POSTs
        config.connection_pool_maxsize = pool_size
        self._client = messaging.ApiClient(config)
        self._api = messaging.MessagingApi(self._client)
        self._timeout = (connect_timeout, read_timeout)

    def close(self) -> None:
        self._client.close()

    def _request(self, model: Any, data: dict[str, Any]) -> Any:
        # The SDK's pydantic models refuse some invalid requests before anything is sent.
        try:
            return model.from_dict(data)
        except ValueError as exc:
            raise LineClientError(f"invalid request: {exc}".splitlines()[0]) from None

    def reply(self, reply_token: str, messages: Sequence[Message]) -> SendResult:
        request = self._request(
            self._m.ReplyMessageRequest, {"replyToken": reply_token, "messages": list(messages)}
        )
        response = self._call(self._api.reply_message_with_http_info, request)
        return SendResult(_request_id(response.headers))

    def push(
        self, to: str, messages: Sequence[Message], *, retry_key: str | None = None
    ) -> SendResult:
        # Pushes are the bulk path (step delivery): the body goes out as the JSON we rendered,
        # through the SDK's ApiClient (auth, connection pool, timeouts) but without building
        # its pydantic models, which cost more CPU than the HTTP call. LINE validates the
        # request and a 400 comes back with details as LineClientError.
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if retry_key:
            headers["X-Line-Retry-Key"] = retry_key
        try:
            response = self._call(
                self._client.call_api,
                "/v2/bot/message/push",
                "POST",
                header_params=headers,
                body={"to": to, "messages": list(messages)},
                response_types_map={},
                auth_settings=["Bearer"],
                _return_http_data_only=False,
            )
        except LineClientError as exc:
            if exc.status == 409 and retry_key:
                # LINE already accepted a request with this retry key: it counts as sent.
                return SendResult(exc.request_id, duplicate=True)
            raise
        return SendResult(_request_id(response.headers))

    def get_profile(self, user_id: str) -> Profile:
        response = self._call(self._api.get_profile_with_http_info, user_id)
        data = response.data
        return Profile(
            user_id=data.user_id,
            display_name=data.display_name,
            picture_url=data.picture_url,
            language=data.language,
            status_message=data.status_message,
        )

    def issue_link_token(self, user_id: str) -> str:
        response = self._call(self._api.issue_link_token_with_http_info, user_id)
        return response.data.link_token

    def show_loading(self, user_id: str, seconds: int = 5) -> None:
        seconds = max(5, min(60, seconds + (-seconds % 5)))  # LINE takes multiples of 5, 5-60
        request = self._m.ShowLoadingAnimationRequest(chat_id=user_id, loading_seconds=seconds)
        self._call(self._api.show_loading_animation_with_http_info, request)

    def leave_group(self, group_id: str) -> None:
        self._call(self._api.leave_group_with_http_info, group_id)

    def leave_room(self, room_id: str) -> None:
        self._call(self._api.leave_room_with_http_info, room_id)

    def message_quota(self) -> MessageQuota:
        # GET /v2/bot/message/quota ({"type": "none"} or {"type": "limited", "value": n})
        # and /quota/consumption ({"totalUsage": n}).
        quota = self._call(self._api.get_message_quota_with_http_info).data
        used = self._call(self._api.get_message_quota_consumption_with_http_info).data
        limited = str(getattr(quota.type, "value", quota.type)) == "limited"
        return MessageQuota(quota.value if limited else None, int(used.total_usage or 0))

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        import urllib3.exceptions as u3

        try:
            return method(*args, _request_timeout=self._timeout, **kwargs)
        except self._m.ApiException as exc:
            raise error_from_response(exc.status, exc.body, dict(exc.headers or {})) from None
        except (u3.ConnectTimeoutError, u3.NewConnectionError) as exc:
            raise LineUnavailable(f"cannot connect to LINE: {exc}") from None
        except (u3.ReadTimeoutError, u3.ProtocolError, u3.TimeoutError) as exc:
            raise LineTimeout(f"no answer from LINE: {exc}") from None
        except u3.MaxRetryError as exc:
            reason = exc.reason
            if isinstance(reason, u3.ConnectTimeoutError | u3.NewConnectionError):
                raise LineUnavailable(f"cannot connect to LINE: {reason}") from None
            raise LineTimeout(f"no answer from LINE: {reason}") from None


def _request_id(headers: Any) -> str | None:
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in dict(headers).items()}
    return lowered.get("x-line-request-id") or lowered.get("x-line-accepted-request-id")


def error_from_response(status: int | None, body: Any, headers: dict[str, str]) -> LineError:
    """Map an HTTP error answer from LINE to the typed error the callers act on."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        payload = json.loads(body) if body else {}
    except (ValueError, TypeError):
        payload = {}
    message = str(payload.get("message") or f"HTTP {status}")
    kwargs: dict[str, Any] = {
        "status": status,
        "details": payload.get("details") or [],
        "request_id": lowered.get("x-line-accepted-request-id") or lowered.get("x-line-request-id"),
    }
    retry_after = lowered.get("retry-after")
    if retry_after:
        with contextlib.suppress(ValueError):
            kwargs["retry_after"] = float(retry_after)
    if status == 429:
        if MONTHLY_LIMIT_TEXT in message.lower():
            return LineMonthlyLimit(message, **kwargs)
        return LineRateLimited(message, **kwargs)
    if status is not None and status >= 500:
        return LineServerError(message, **kwargs)
    if status == 400 and "reply token" in message.lower():
        return LineInvalidReplyToken(message, **kwargs)
    return LineClientError(message, **kwargs)


@dataclass
class InMemoryLineGateway:
    """A LineGateway that records calls; unit tests script failures through `fail_next`."""

    profiles: dict[str, Profile] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[LineError] = field(default_factory=list)
    accepted_keys: dict[str, str] = field(default_factory=dict)
    quota: MessageQuota = field(default_factory=lambda: MessageQuota(None, 0))
    _counter: int = 0

    def fail_next(self, error: LineError) -> None:
        self.failures.append(error)

    def _record(self, op: str, **data: Any) -> str:
        self.calls.append((op, data))
        if self.failures:
            raise self.failures.pop(0)
        self._counter += 1
        return f"req-{self._counter}"

    def sent(self, op: str | None = None) -> list[dict[str, Any]]:
        """The recorded calls (optionally of one kind) that succeeded or were attempted."""
        return [data for name, data in self.calls if op is None or name == op]

    def reply(self, reply_token: str, messages: Sequence[Message]) -> SendResult:
        return SendResult(self._record("reply", reply_token=reply_token, messages=list(messages)))

    def push(
        self, to: str, messages: Sequence[Message], *, retry_key: str | None = None
    ) -> SendResult:
        if retry_key and retry_key in self.accepted_keys:
            return SendResult(self.accepted_keys[retry_key], duplicate=True)
        request_id = self._record("push", to=to, messages=list(messages), retry_key=retry_key)
        if retry_key:
            self.accepted_keys[retry_key] = request_id
        return SendResult(request_id)

    def get_profile(self, user_id: str) -> Profile:
        self._record("profile", user_id=user_id)
        profile = self.profiles.get(user_id)
        if profile is None:
            raise LineClientError("Not found", status=404)
        return profile

    def issue_link_token(self, user_id: str) -> str:
        return "linktoken-" + self._record("link_token", user_id=user_id)

    def show_loading(self, user_id: str, seconds: int = 5) -> None:
        self._record("loading", user_id=user_id, seconds=seconds)

    def leave_group(self, group_id: str) -> None:
        self._record("leave_group", group_id=group_id)

    def leave_room(self, room_id: str) -> None:
        self._record("leave_room", room_id=room_id)

    def message_quota(self) -> MessageQuota:
        self._record("quota")
        return self.quota


def sdk_gateway_factory(settings: Settings) -> Callable[[], LineGateway]:
    """Factory for the real gateway with the configured base URL and timeouts."""
    return lambda: SdkLineGateway(
        settings.line_channel_access_token,
        settings.line_api_base_url,
        connect_timeout=settings.line_connect_timeout,
        read_timeout=settings.line_read_timeout,
    )
