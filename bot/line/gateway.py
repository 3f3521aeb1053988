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
from datetime import date
from typing import Any, Protocol
from urllib.parse import quote

from bot.core.settings import Settings

Message = dict[str, Any]
MONTHLY_LIMIT_TEXT = "monthly limit"
UNIT_LIST_PAGE = 100  # unit names asked for per page
UNIT_LIST_MAX_PAGES = 20  # LINE's monthly limit is 1,000 units: 10 pages; more is a loop
MULTICAST_MAX_RECIPIENTS = 500  # LINE's MulticastRequest: `to` holds 1 to 500 user IDs
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
class UnitStatistics:
    """LINE's figures for one custom aggregation unit over a period (None: under 20 users)."""

    unique_impression: int | None
    unique_click: int | None


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
        self,
        to: str,
        messages: Sequence[Message],
        *,
        retry_key: str | None = None,
        aggregation_unit: str | None = None,
    ) -> SendResult: ...

    def multicast(
        self,
        to: Sequence[str],
        messages: Sequence[Message],
        *,
        retry_key: str | None = None,
        aggregation_unit: str | None = None,
    ) -> SendResult: ...

    def aggregation_unit_usage(self) -> int: ...

    def aggregation_unit_names(self) -> list[str]: ...

    def unit_statistics(self, unit: str, day_from: date, day_to: date) -> UnitStatistics: ...

    def get_profile(self, user_id: str) -> Profile: ...

    def issue_link_token(self, user_id: str) -> str: ...

    def show_loading(self, user_id: str, seconds: int = 5) -> None: ...

    def leave_group(self, group_id: str) -> None: ...

    def leave_room(self, room_id: str) -> None: ...

    # Rich menus (bot.richmenu): menus, their images, the default, aliases, per-user links.
    def validate_rich_menu(self, menu: dict[str, Any]) -> None: ...

    def create_rich_menu(self, menu: dict[str, Any]) -> str: ...

    def upload_rich_menu_image(self, rich_menu_id: str, data: bytes, content_type: str) -> None: ...

    def list_rich_menus(self) -> list[dict[str, Any]]: ...

    def delete_rich_menu(self, rich_menu_id: str) -> None: ...

    def set_default_rich_menu(self, rich_menu_id: str) -> None: ...

    def default_rich_menu(self) -> str | None: ...

    def rich_menu_aliases(self) -> dict[str, str]: ...

    def set_rich_menu_alias(self, alias_id: str, rich_menu_id: str, *, exists: bool) -> None: ...

    def delete_rich_menu_alias(self, alias_id: str) -> None: ...

    def link_rich_menu(self, user_id: str, rich_menu_id: str) -> None: ...

    def unlink_rich_menu(self, user_id: str) -> None: ...

    def link_rich_menu_to_users(self, rich_menu_id: str, user_ids: Sequence[str]) -> None: ...

    def message_quota(self) -> MessageQuota: ...


class SdkLineGateway:
    """LineGateway over line-bot-sdk v3 with timeouts (the SDK sets none by default)."""

    def __init__(
        self,
        access_token: str,
        base_url: str,
        *,
        data_base_url: str | None = None,
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
        self._base_url = base_url
        self._access_token = access_token
        # Image uploads go to LINE's data host (api-data.line.me), which needs its own client:
        # a configured host overrides the host the SDK's blob API names per operation.
        self._data_base_url = data_base_url or base_url
        self._data_client: Any = None
        self._insight: Any = None  # the insight API client, built on first use

    def close(self) -> None:
        self._client.close()
        if self._data_client is not None:
            self._data_client.close()
        if self._insight is not None:
            self._insight.api_client.close()

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
        self,
        to: str,
        messages: Sequence[Message],
        *,
        retry_key: str | None = None,
        aggregation_unit: str | None = None,
    ) -> SendResult:
        # Pushes are the bulk path (step delivery): the body goes out as the JSON we rendered,
        # through the SDK's ApiClient (auth, connection pool, timeouts) but without building
        # its pydantic models, which cost more CPU than the HTTP call. LINE validates the
        # request and a 400 comes back with details as LineClientError.
        return self._send_json(
            "/v2/bot/message/push", _push_body(to, messages, aggregation_unit), retry_key
        )

    def multicast(
        self,
        to: Sequence[str],
        messages: Sequence[Message],
        *,
        retry_key: str | None = None,
        aggregation_unit: str | None = None,
    ) -> SendResult:
        """The same messages to up to 500 users in one request (POST /v2/bot/message/multicast).

        Sent as plain JSON like `push`. LINE answers 200 for the whole request, also for IDs
        that are not (or no longer) friends: nothing reaches those, and nothing is counted.
        """
        if not 1 <= len(to) <= MULTICAST_MAX_RECIPIENTS:
            raise LineClientError(f"multicast takes 1 to {MULTICAST_MAX_RECIPIENTS} recipients")
        body: dict[str, Any] = {"to": list(to), "messages": list(messages)}
        if aggregation_unit:
            body["customAggregationUnits"] = [aggregation_unit]
        return self._send_json("/v2/bot/message/multicast", body, retry_key)

    def _send_json(self, path: str, body: dict[str, Any], retry_key: str | None) -> SendResult:
        """POST a message request as it is, with the retry key if any. A 409 to a retry key
        means LINE accepted a request with that key before (a send repeated after a crash or
        a timeout): it delivered it then, does not deliver it again, and it counts as sent."""
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if retry_key:
            headers["X-Line-Retry-Key"] = retry_key
        try:
            response = self._call(
                self._client.call_api,
                path,
                "POST",
                header_params=headers,
                body=body,
                response_types_map={},
                auth_settings=["Bearer"],
                _return_http_data_only=False,
            )
        except LineClientError as exc:
            if exc.status == 409 and retry_key:
                return SendResult(exc.request_id, duplicate=True)
            raise
        return SendResult(_request_id(response.headers))

    def aggregation_unit_usage(self) -> int:
        """How many custom aggregation units LINE counts for this month."""
        response = self._call(self._api.get_aggregation_unit_usage_with_http_info)
        return int(response.data.num_of_custom_aggregation_units)

    def aggregation_unit_names(self) -> list[str]:
        """The names of this month's units, following LINE's continuation tokens."""
        names: list[str] = []
        start: str | None = None
        for _ in range(UNIT_LIST_MAX_PAGES):
            response = self._call(
                self._api.get_aggregation_unit_name_list_with_http_info,
                limit=str(UNIT_LIST_PAGE),
                start=start,
            )
            names.extend(response.data.custom_aggregation_units or [])
            start = response.data.next
            if not start:
                break
        return names

    def unit_statistics(self, unit: str, day_from: date, day_to: date) -> UnitStatistics:
        """Unique impressions and clicks of a unit over LINE's days (UTC+9), both inclusive."""
        if self._insight is None:
            from linebot.v3 import insight

            config = insight.Configuration(host=self._base_url, access_token=self._access_token)
            config.retries = False
            self._insight = insight.Insight(insight.ApiClient(config))
        try:
            response = self._call(
                self._insight.get_statistics_per_unit_with_http_info,
                unit,
                day_from.strftime("%Y%m%d"),
                day_to.strftime("%Y%m%d"),
                api_exception=_insight_exception(),
            )
        except ValueError as exc:  # the SDK checks the unit's length before sending
            raise LineClientError(f"invalid request: {exc}".splitlines()[0]) from None
        overview = response.data.overview
        if overview is None:
            return UnitStatistics(None, None)
        return UnitStatistics(overview.unique_impression, overview.unique_click)

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

    # -- rich menus ---------------------------------------------------------------------------
    # Sent as plain JSON through the SDK's ApiClient (auth, pool, timeouts, typed errors), like
    # push: LINE validates the rich menu object, and the emulator applies the same rules.

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self._call(
            self._client.call_api,
            path,
            method,
            header_params=headers,
            body=body,
            response_types_map={},
            auth_settings=["Bearer"],
            _return_http_data_only=False,
        )
        raw = response.raw_data
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (ValueError, TypeError):
            return None

    def validate_rich_menu(self, menu: dict[str, Any]) -> None:
        self._json("POST", "/v2/bot/richmenu/validate", menu)

    def create_rich_menu(self, menu: dict[str, Any]) -> str:
        return str(self._json("POST", "/v2/bot/richmenu", menu)["richMenuId"])

    def upload_rich_menu_image(self, rich_menu_id: str, data: bytes, content_type: str) -> None:
        if self._data_client is None:
            config = self._m.Configuration(
                host=self._data_base_url, access_token=self._access_token
            )
            config.retries = False
            self._data_client = self._m.ApiClient(config)
        self._call(
            self._data_client.call_api,
            f"/v2/bot/richmenu/{quote(rich_menu_id, safe='')}/content",
            "POST",
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=data,
            response_types_map={},
            auth_settings=["Bearer"],
            _return_http_data_only=False,
        )

    def list_rich_menus(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/v2/bot/richmenu/list")["richmenus"])

    def delete_rich_menu(self, rich_menu_id: str) -> None:
        self._json("DELETE", f"/v2/bot/richmenu/{quote(rich_menu_id, safe='')}")

    def set_default_rich_menu(self, rich_menu_id: str) -> None:
        self._json("POST", f"/v2/bot/user/all/richmenu/{quote(rich_menu_id, safe='')}")

    def default_rich_menu(self) -> str | None:
        try:
            return str(self._json("GET", "/v2/bot/user/all/richmenu")["richMenuId"])
        except LineClientError as exc:
            if exc.status == 404:  # no default set
                return None
            raise

    def rich_menu_aliases(self) -> dict[str, str]:
        answer = self._json("GET", "/v2/bot/richmenu/alias/list")
        return {a["richMenuAliasId"]: a["richMenuId"] for a in answer["aliases"]}

    def set_rich_menu_alias(self, alias_id: str, rich_menu_id: str, *, exists: bool) -> None:
        if exists:
            path = f"/v2/bot/richmenu/alias/{quote(alias_id, safe='')}"
            self._json("POST", path, {"richMenuId": rich_menu_id})
        else:
            body = {"richMenuAliasId": alias_id, "richMenuId": rich_menu_id}
            self._json("POST", "/v2/bot/richmenu/alias", body)

    def delete_rich_menu_alias(self, alias_id: str) -> None:
        self._json("DELETE", f"/v2/bot/richmenu/alias/{quote(alias_id, safe='')}")

    def link_rich_menu(self, user_id: str, rich_menu_id: str) -> None:
        user, menu = quote(user_id, safe=""), quote(rich_menu_id, safe="")
        self._json("POST", f"/v2/bot/user/{user}/richmenu/{menu}")

    def unlink_rich_menu(self, user_id: str) -> None:
        self._json("DELETE", f"/v2/bot/user/{quote(user_id, safe='')}/richmenu")

    def link_rich_menu_to_users(self, rich_menu_id: str, user_ids: Sequence[str]) -> None:
        body = {"richMenuId": rich_menu_id, "userIds": list(user_ids)}
        self._json("POST", "/v2/bot/richmenu/bulk/link", body)

    def message_quota(self) -> MessageQuota:
        # GET /v2/bot/message/quota ({"type": "none"} or {"type": "limited", "value": n})
        # and /quota/consumption ({"totalUsage": n}).
        quota = self._call(self._api.get_message_quota_with_http_info).data
        used = self._call(self._api.get_message_quota_consumption_with_http_info).data
        limited = str(getattr(quota.type, "value", quota.type)) == "limited"
        return MessageQuota(quota.value if limited else None, int(used.total_usage or 0))

    def _call(
        self, method: Any, *args: Any, api_exception: type[Exception] | None = None, **kwargs: Any
    ) -> Any:
        import urllib3.exceptions as u3

        failure = api_exception or self._m.ApiException
        try:
            return method(*args, _request_timeout=self._timeout, **kwargs)
        except failure as exc:  # type: ignore[misc]
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


def _insight_exception() -> type[Exception]:
    from linebot.v3.insight import ApiException

    return ApiException


def _push_body(to: str, messages: Sequence[Message], unit: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"to": to, "messages": list(messages)}
    if unit:
        # One unit per push at most (LINE's rule); it names the message in LINE's insight.
        body["customAggregationUnits"] = [unit]
    return body


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
    rich_menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_menu: str | None = None
    menu_aliases: dict[str, str] = field(default_factory=dict)
    user_menus: dict[str, str] = field(default_factory=dict)
    # Custom aggregation units: the ones LINE counts this month, and scripted statistics
    # per day and per period (first and last day).
    units_this_month: list[str] = field(default_factory=list)
    statistics: dict[tuple[str, date], UnitStatistics] = field(default_factory=dict)
    period_statistics: dict[tuple[str, date, date], UnitStatistics] = field(default_factory=dict)
    unit_failures: list[LineError] = field(default_factory=list)
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
        self,
        to: str,
        messages: Sequence[Message],
        *,
        retry_key: str | None = None,
        aggregation_unit: str | None = None,
    ) -> SendResult:
        if retry_key and retry_key in self.accepted_keys:
            return SendResult(self.accepted_keys[retry_key], duplicate=True)
        extra = {"aggregation_unit": aggregation_unit} if aggregation_unit else {}
        request_id = self._record(
            "push", to=to, messages=list(messages), retry_key=retry_key, **extra
        )
        if retry_key:
            self.accepted_keys[retry_key] = request_id
        if aggregation_unit and aggregation_unit not in self.units_this_month:
            self.units_this_month.append(aggregation_unit)
        return SendResult(request_id)

    def multicast(
        self,
        to: Sequence[str],
        messages: Sequence[Message],
        *,
        retry_key: str | None = None,
        aggregation_unit: str | None = None,
    ) -> SendResult:
        if not 1 <= len(to) <= MULTICAST_MAX_RECIPIENTS:
            raise LineClientError(f"multicast takes 1 to {MULTICAST_MAX_RECIPIENTS} recipients")
        if retry_key and retry_key in self.accepted_keys:
            return SendResult(self.accepted_keys[retry_key], duplicate=True)
        extra = {"aggregation_unit": aggregation_unit} if aggregation_unit else {}
        request_id = self._record(
            "multicast", to=list(to), messages=list(messages), retry_key=retry_key, **extra
        )
        if retry_key:
            self.accepted_keys[retry_key] = request_id
        if aggregation_unit and aggregation_unit not in self.units_this_month:
            self.units_this_month.append(aggregation_unit)
        return SendResult(request_id)

    # The unit look-ups do not take from `failures` (scripted for sends): `unit_failures`.
    def aggregation_unit_usage(self) -> int:
        self.calls.append(("aggregation_info", {}))
        if self.unit_failures:
            raise self.unit_failures.pop(0)
        return len(self.units_this_month)

    def aggregation_unit_names(self) -> list[str]:
        self.calls.append(("aggregation_list", {}))
        return list(self.units_this_month)

    def unit_statistics(self, unit: str, day_from: date, day_to: date) -> UnitStatistics:
        self._record("unit_statistics", unit=unit, day_from=day_from, day_to=day_to)
        if day_from != day_to:
            return self.period_statistics.get((unit, day_from, day_to), UnitStatistics(None, None))
        return self.statistics.get((unit, day_from), UnitStatistics(None, None))

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

    # Rich menus: a small in-memory LINE (menus, default, aliases, per-user links).

    def validate_rich_menu(self, menu: dict[str, Any]) -> None:
        self._record("validate_rich_menu", menu=menu)

    def create_rich_menu(self, menu: dict[str, Any]) -> str:
        self._record("create_rich_menu", menu=menu)
        rich_menu_id = f"richmenu-{uuid.uuid4().hex}"
        self.rich_menus[rich_menu_id] = dict(menu)
        return rich_menu_id

    def upload_rich_menu_image(self, rich_menu_id: str, data: bytes, content_type: str) -> None:
        self._record(
            "upload_rich_menu_image", rich_menu_id=rich_menu_id, size=len(data), type=content_type
        )
        self._need_menu(rich_menu_id)

    def list_rich_menus(self) -> list[dict[str, Any]]:
        self._record("list_rich_menus")
        return [{"richMenuId": key, **menu} for key, menu in self.rich_menus.items()]

    def delete_rich_menu(self, rich_menu_id: str) -> None:
        self._record("delete_rich_menu", rich_menu_id=rich_menu_id)
        self._need_menu(rich_menu_id)
        del self.rich_menus[rich_menu_id]
        if self.default_menu == rich_menu_id:
            self.default_menu = None
        for mapping in (self.user_menus, self.menu_aliases):
            for key in [k for k, v in mapping.items() if v == rich_menu_id]:
                del mapping[key]

    def set_default_rich_menu(self, rich_menu_id: str) -> None:
        self._record("set_default_rich_menu", rich_menu_id=rich_menu_id)
        self._need_menu(rich_menu_id)
        self.default_menu = rich_menu_id

    def default_rich_menu(self) -> str | None:
        self._record("default_rich_menu")
        return self.default_menu

    def rich_menu_aliases(self) -> dict[str, str]:
        self._record("rich_menu_aliases")
        return dict(self.menu_aliases)

    def set_rich_menu_alias(self, alias_id: str, rich_menu_id: str, *, exists: bool) -> None:
        self._record("set_rich_menu_alias", alias_id=alias_id, rich_menu_id=rich_menu_id)
        self._need_menu(rich_menu_id)
        if exists != (alias_id in self.menu_aliases):
            raise LineClientError("richmenu alias not found" if exists else "conflict", status=400)
        self.menu_aliases[alias_id] = rich_menu_id

    def delete_rich_menu_alias(self, alias_id: str) -> None:
        self._record("delete_rich_menu_alias", alias_id=alias_id)
        self.menu_aliases.pop(alias_id, None)

    def link_rich_menu(self, user_id: str, rich_menu_id: str) -> None:
        self._record("link_rich_menu", user_id=user_id, rich_menu_id=rich_menu_id)
        self._need_menu(rich_menu_id)
        self.user_menus[user_id] = rich_menu_id

    def unlink_rich_menu(self, user_id: str) -> None:
        self._record("unlink_rich_menu", user_id=user_id)
        self.user_menus.pop(user_id, None)

    def link_rich_menu_to_users(self, rich_menu_id: str, user_ids: Sequence[str]) -> None:
        self._record("link_rich_menu_to_users", rich_menu_id=rich_menu_id, user_ids=list(user_ids))
        self._need_menu(rich_menu_id)
        for user_id in user_ids:
            self.user_menus[user_id] = rich_menu_id

    def _need_menu(self, rich_menu_id: str) -> None:
        if rich_menu_id not in self.rich_menus:
            raise LineClientError("richmenu not found", status=404)

    def message_quota(self) -> MessageQuota:
        self._record("quota")
        return self.quota


def sdk_gateway_factory(settings: Settings) -> Callable[[], LineGateway]:
    """Factory for the real gateway with the configured base URL and timeouts."""
    return lambda: SdkLineGateway(
        settings.line_channel_access_token,
        settings.line_api_base_url,
        data_base_url=settings.line_data_url,
        connect_timeout=settings.line_connect_timeout,
        read_timeout=settings.line_read_timeout,
    )
