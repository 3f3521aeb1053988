"""The SMS provider adapter for Twilio Programmable Messaging (the Messages resource).

POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To, From (or
MessagingServiceSid), Body and StatusCallback, with HTTP basic auth (Account SID, auth token).
201 answers the Message resource (sid, status); an error answers {code, message, more_info,
status}. 429 (20429) and 5xx are passing; other 4xx are permanent for this request.

The caller's `reference` rides in the StatusCallback URL's query (`ref=`): the provider
signs the URL with the callback, so the receipt brings the reference back authenticated even
if the sender crashed before writing down the message id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from urllib3.exceptions import NewConnectionError

from bot.core.settings import Settings
from bot.sms.provider import SmsProvider, SmsRejected, SmsSent, SmsUnavailable

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
REFERENCE_PARAM = "ref"
MAX_REFERENCE = 128


def with_reference(url: str, reference: str) -> str:
    """`url` with the reference added to its query (replacing one already there)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ref"]
    query.append((REFERENCE_PARAM, reference))
    return urlunsplit(parts._replace(query=urlencode(query)))


class TwilioSms:
    """Sends SMS through Twilio's REST API with explicit timeouts and typed errors."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        sender: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = "https://api.twilio.com",
        default_status_callback: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if not sender and not messaging_service_sid:
            raise ValueError("a sender number or a Messaging Service SID is needed")
        self.account_sid = account_sid
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid
        self.url = f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        self.default_status_callback = default_status_callback
        self.timeout = (connect_timeout, read_timeout)
        self.http = session or requests.Session()
        self.http.auth = (account_sid, auth_token)

    def send(
        self, to: str, body: str, *, reference: str, status_callback: str | None = None
    ) -> SmsSent:
        """Hand one message to Twilio; SmsRejected (permanent) or SmsUnavailable (retry)."""
        if len(reference) > MAX_REFERENCE:
            raise ValueError(f"reference longer than {MAX_REFERENCE} characters")
        form = {"To": to, "Body": body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.sender or ""
        callback = status_callback or self.default_status_callback
        if callback:
            form["StatusCallback"] = with_reference(callback, reference)
        try:
            response = self.http.post(self.url, data=form, timeout=self.timeout)
        except requests.ConnectTimeout:
            raise SmsUnavailable("the SMS provider did not accept the connection in time") from None
        except requests.Timeout:
            raise SmsUnavailable(
                "the SMS provider did not answer in time", maybe_sent=True
            ) from None
        except requests.ConnectionError as exc:
            # Refused: nothing was sent. Dropped after the request went: it may have been.
            refused = isinstance(_root(exc), NewConnectionError)
            raise SmsUnavailable(
                "the SMS provider is unreachable", maybe_sent=not refused
            ) from None
        return self._result(response)

    def _result(self, response: requests.Response) -> SmsSent:
        data = _json(response)
        status = response.status_code
        if status in (200, 201):
            sid, state = data.get("sid"), data.get("status")
            if not isinstance(sid, str) or not isinstance(state, str):
                # Accepted, but the answer is not a Message: the message may well be out.
                raise SmsUnavailable(
                    "the SMS provider answered without a message sid", maybe_sent=True
                )
            return SmsSent(provider_message_id=sid, status=state)
        code = str(data.get("code")) if data.get("code") is not None else None
        message = str(data.get("message") or response.reason or "error")[:200]
        log.warning("SMS refused", extra={"status": status, "code": code})
        if status == 429 or status >= 500:
            raise SmsUnavailable(
                f"SMS provider {status}: {message}", code, retry_after=_retry_after(response)
            )
        # 401 (20003) is our configuration, not the message; it is permanent for this request
        # all the same, and the error code says which.
        raise SmsRejected(f"SMS provider {status}: {message}", code)


def _root(exc: BaseException) -> BaseException | None:
    """The urllib3 error under a requests error (requests wraps it in its first argument)."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    return (
        reason
        if isinstance(reason, BaseException)
        else inner
        if isinstance(inner, BaseException)
        else None
    )


def _json(response: requests.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def twilio_factory(settings: Settings) -> Callable[[], SmsProvider]:
    """Factory for the adapter with the configured account, sender, base URL and timeouts."""
    return lambda: TwilioSms(
        settings.sms_account_sid,
        settings.sms_auth_token,
        sender=settings.sms_from,
        messaging_service_sid=settings.sms_messaging_service_sid,
        base_url=settings.sms_api_base_url,
        default_status_callback=f"{settings.public_base_url}/sms/status",
        connect_timeout=settings.sms_connect_timeout,
        read_timeout=settings.sms_read_timeout,
    )
