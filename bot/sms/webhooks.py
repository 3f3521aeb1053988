"""The provider's webhooks: inbound SMS (POST /sms/inbound) and delivery receipts (POST
/sms/status), both form-encoded and signed with X-Twilio-Signature.

A request whose signature is missing or wrong gets 403 and changes nothing. The signed URL is
the one the provider called: PUBLIC_BASE_URL, the path and the raw query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable
from datetime import datetime
from xml.sax.saxutils import escape

from flask import Blueprint, Flask, Response, abort, request
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.core.services import Services, current_services
from bot.core.settings import Settings
from bot.models import SmsMessage
from bot.sms import inbound
from bot.sms.receipts import INBOUND, RANK, apply_receipt
from bot.sms.twilio import REFERENCE_PARAM, twilio_factory

log = logging.getLogger(__name__)
bp = Blueprint("sms", __name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
_MESSAGE_SID = re.compile(r"\A(SM|MM)[0-9a-f]{32}\Z")
_PHONE = re.compile(r"\A\+[1-9][0-9]{7,14}\Z")
_ERROR_CODE = re.compile(r"\A[0-9]{1,8}\Z")
MAX_REFERENCE = 128


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature of a request: base64 HMAC-SHA1 over the URL and every parameter's
    name and value, sorted by name."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(
        hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()


def _verified(settings: Settings) -> dict[str, str]:
    """The form parameters of a correctly signed request from our account; 403 otherwise
    (404 while SMS is off: an empty auth token would make every signature forgeable)."""
    if not settings.sms_enabled or not settings.sms_auth_token:
        abort(404)
    given = request.headers.get(SIGNATURE_HEADER, "")
    query = request.query_string.decode("latin-1")
    url = settings.public_base_url + request.path + (f"?{query}" if query else "")
    pairs = list(request.form.items(multi=True))
    expected = signature(settings.sms_auth_token, url, pairs)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        log.warning("SMS webhook refused: bad signature", extra={"path": request.path})
        abort(403, "bad or missing X-Twilio-Signature")
    params = request.form.to_dict(flat=True)
    if not hmac.compare_digest(params.get("AccountSid", ""), settings.sms_account_sid):
        abort(403, "not this account's webhook")
    return params


def _twiml(text: str | None = None) -> Response:
    body = f"<Message>{escape(text)}</Message>" if text else ""
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
    return Response(xml, 200, content_type="text/xml; charset=utf-8")


def _first_time(session: Session, sid: str, now: datetime) -> bool:
    """Note an inbound message id; False if it was noted before (the provider's retry)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    result = session.execute(
        dialect.insert(SmsMessage)
        .values(
            provider_message_id=sid,
            reference=INBOUND,
            to=None,  # the shopper's number is not kept with the message
            status="received",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["provider_message_id"])
        .returning(SmsMessage.id)
    )
    return result.first() is not None  # rowcount is not reliable here on PostgreSQL


@bp.post("/sms/inbound")
def receive_sms() -> Response:
    """A shopper's SMS to the shop's number: 「停止」/「再開」 change SMS marketing consent and are
    confirmed; anything else (or an unknown number) is acknowledged with no reply."""
    services = current_services()
    params = _verified(services.settings)
    sid, sender = params.get("MessageSid", ""), params.get("From", "")
    if not _MESSAGE_SID.match(sid) or not _PHONE.match(sender):
        abort(400, "MessageSid or From is malformed")
    session = services.db.session()
    now = services.clock.now()
    try:
        if not _first_time(session, sid, now):
            session.commit()
            return _twiml()  # a retry of a message already handled: no second effect or reply
        granted, members = inbound.apply_reply(
            session, message_sid=sid, from_=sender, body=params.get("Body", "")[:1600], now=now
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if granted is None or not members:
        return _twiml()
    name = services.settings.shop_name
    return _twiml(inbound.resumed_reply(name) if granted else inbound.stopped_reply(name))


@bp.post("/sms/status")
def receive_status() -> tuple[str, int]:
    """A delivery receipt: the message's status moves forward, never back."""
    services = current_services()
    params = _verified(services.settings)
    sid = params.get("MessageSid", "")
    status = params.get("MessageStatus", "")
    code = params.get("ErrorCode") or None
    reference = request.args.get(REFERENCE_PARAM) or None
    if not _MESSAGE_SID.match(sid):
        abort(400, "MessageSid is malformed")
    if code is not None and not _ERROR_CODE.match(code):
        abort(400, "ErrorCode is malformed")
    if reference is not None and len(reference) > MAX_REFERENCE:
        abort(400, "the reference is too long")
    if status not in RANK:
        log.info("SMS status ignored", extra={"status": status[:32]})
        return "", 204  # e.g. "read" (RCS): nothing of ours depends on it
    to = params.get("To") if _PHONE.match(params.get("To", "")) else None
    session = services.db.session()
    try:
        apply_receipt(
            session, sid, status, code, to=to, reference=reference, now=services.clock.now()
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return "", 204


def init_app(app: Flask) -> None:
    """Serve the webhooks; build the provider adapter from the settings unless one was given."""
    services: Services = app.extensions["bot"]
    if services.sms_factory is None and services.settings.sms_enabled:
        services.sms_factory = twilio_factory(services.settings)
    app.register_blueprint(bp)
