"""The e-mail endpoints: one-click unsubscribe (RFC 8058) and the bounce/complaint intake.

`/email/unsubscribe/<token>`: GET shows a confirmation page with a button and changes
nothing (mail scanners and link previews fetch every link); POST withdraws the member's
marketing consent for the token's channel — the mail provider's one-click POST
(`List-Unsubscribe=One-Click`) and the page's button alike. The token is HMAC-signed and
names one member and one channel (`bot.email.tokens`).

`/email/events`: the mail service reports hard bounces and complaints, signed with
EMAIL_WEBHOOK_SECRET (`X-Email-Timestamp`, `X-Email-Signature`: hex HMAC-SHA256 of
"<timestamp>.<body>", within 5 minutes). A hard bounce marks the address undeliverable,
a complaint withdraws consent; a duplicate has no second effect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from html import escape
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import consents
from bot.core.services import current_services
from bot.email.tokens import InvalidToken, Unsubscribe, read_token
from bot.models import Delivery, MemberContact, Shopper

bp = Blueprint("email", __name__)
log = logging.getLogger(__name__)

SIGNATURE_WINDOW = timedelta(minutes=5)
MAX_BODY = 64 * 1024
SOURCES = {"email": "email_unsubscribe", "sms": "sms_unsubscribe"}
CHANNEL_NAMES = {"email": "メール", "sms": "SMS"}

_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title></head>
<body style="font-family: sans-serif; margin: 2em auto; max-width: 36em; line-height: 1.7">
<h1 style="font-size: 1.2em">{title}</h1>
{body}
</body></html>
"""


def _page(title: str, body: str, status: int = 200) -> Response:
    response = Response(_PAGE.format(title=escape(title), body=body), status=status)
    response.mimetype = "text/html"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _invalid(reason: str) -> Response:
    log.info("unsubscribe token refused", extra={"reason": reason})
    help_url = escape(current_services().settings.help_url)
    return _page(
        "このリンクは無効か、有効期限が切れています",
        f'<p>お手数ですが、<a href="{help_url}">ショップのお問い合わせ先</a>'
        "から配信停止をお申し付けください。</p>",
        status=410 if reason == "expired" else 404,
    )


def _claims(token: str) -> Unsubscribe | Response:
    services = current_services()
    try:
        return read_token(services.settings.secret_key.encode(), token, services.clock.now())
    except InvalidToken as exc:
        return _invalid(str(exc))


@bp.get("/email/unsubscribe/<token>")
def confirm_unsubscribe(token: str) -> Response:
    """The confirmation page: a button that POSTs; a GET alone never unsubscribes."""
    claims = _claims(token)
    if isinstance(claims, Response):
        return claims
    shop = escape(current_services().settings.shop_name)
    name = CHANNEL_NAMES[claims.channel]
    return _page(
        f"{name}の配信停止",
        f"<p>{shop}からのお知らせ{name}(カートのリマインドやクーポンなど)の配信を停止します。"
        "ご注文や発送に関するご連絡は引き続きお送りします。</p>"
        f'<form method="post" action="{escape(request.path)}">'
        '<button type="submit" style="font-size: 1em; padding: 0.6em 1.6em">'
        "配信を停止する</button></form>",
    )


@bp.post("/email/unsubscribe/<token>")
def unsubscribe(token: str) -> Response:
    """Withdraw the consent the token names (RFC 8058 one-click, or the page's button)."""
    claims = _claims(token)
    if isinstance(claims, Response):
        return claims
    services = current_services()
    session = services.db.session()
    now = services.clock.now()
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    current = consents.current_record(session, claims.member_id, claims.channel)
    if current is None or current.granted:
        # Keyed by the record it replaces: a repeated POST (mail clients retry) adds nothing,
        # while a later unsubscribe after a new grant is recorded again.
        key = f"unsubscribe:{claims.channel}:{claims.member_id}:{current.id if current else 0}"
        consents.record_consent(
            session,
            member_id=claims.member_id,
            channel=claims.channel,
            purpose=consents.MARKETING,
            granted=False,
            occurred_at=now,
            source=SOURCES[claims.channel],
            now=now,
            evidence={"method": "one_click" if one_click else "confirmation_page"},
            request_key=hashlib.sha256(key.encode()).hexdigest()[:64],
        )
        session.commit()
    log.info("unsubscribed", extra={"channel": claims.channel, "one_click": one_click})
    name = CHANNEL_NAMES[claims.channel]
    return _page(
        f"{name}の配信を停止しました",
        f"<p>今後、{escape(services.settings.shop_name)}からお知らせの{name}はお送りしません。"
        "再開はショップのマイページからお手続きください。</p>",
    )


# -- bounces and complaints -------------------------------------------------------------------


def _error(status: int, reason: str) -> tuple[Response, int]:
    return jsonify({"error": reason}), status


def _signed(secret: str, now: datetime) -> str | None:
    """Why the request's signature is not acceptable, or None."""
    stamp = request.headers.get("X-Email-Timestamp", "")
    signature = request.headers.get("X-Email-Signature", "")
    if not stamp.isdigit() or not signature:
        return "missing X-Email-Timestamp or X-Email-Signature"
    if abs(now.timestamp() - int(stamp)) > SIGNATURE_WINDOW.total_seconds():
        return "timestamp outside the 5-minute window"
    expected = hmac.new(
        secret.encode(), stamp.encode() + b"." + request.get_data(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return "bad signature"
    return None


def _members(session: Session, email: str | None, message_id: str | None) -> list[str]:
    """The members the report is about: the delivery's (by Message-ID), else whoever has the
    address."""
    if message_id:
        delivery = session.scalars(
            select(Delivery).where(Delivery.message_id == message_id, Delivery.channel == "email")
        ).first()
        shopper = session.get(Shopper, delivery.shopper_id) if delivery else None
        member = (shopper.member_id or shopper.contact_member_id) if shopper else None
        if member:
            return [member]
    if email:
        return list(
            session.scalars(
                select(MemberContact.member_id)
                # Mail services may change the local part's case; nobody relies on it.
                .where(func.lower(MemberContact.email) == email.lower())
                .order_by(MemberContact.member_id)
            )
        )
    return []


def _event(payload: Any) -> dict[str, Any] | str:
    """The checked report, or what is wrong with it."""
    if not isinstance(payload, dict):
        return "body must be a JSON object"
    kind = payload.get("type")
    if kind not in ("bounce", "complaint"):
        return "type must be bounce or complaint"
    event_id = payload.get("event_id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 128:
        return "event_id must be a string of 1 to 128 characters"
    if kind == "bounce" and payload.get("bounce_type") not in ("hard", "soft"):
        return "bounce_type must be hard or soft"
    email = payload.get("email")
    message_id = payload.get("message_id")
    if email is not None and not isinstance(email, str):
        return "email must be a string"
    if message_id is not None and not (isinstance(message_id, str) and len(message_id) <= 255):
        return "message_id must be a string of at most 255 characters"
    if not email and not message_id:
        return "email or message_id is required"
    if email:
        try:
            email = consents.normalise_email(email)
        except consents.ContactError as exc:
            return f"email {exc}"
    occurred = payload.get("occurred_at")
    try:
        occurred_at = datetime.fromisoformat(occurred) if isinstance(occurred, str) else None
    except ValueError:
        return "occurred_at must be an ISO 8601 time with an offset"
    if occurred_at is not None and occurred_at.utcoffset() is None:
        return "occurred_at must carry a time zone"
    return {
        "type": kind,
        "event_id": event_id,
        "bounce_type": payload.get("bounce_type"),
        "email": email,
        "message_id": message_id,
        "occurred_at": occurred_at,
    }


@bp.post("/email/events")
def email_events() -> Response | tuple[Response, int]:
    """A hard bounce or a complaint from the mail service (signed; idempotent)."""
    services = current_services()
    secret = services.settings.email_webhook_secret
    if not secret:
        return _error(404, "the e-mail event intake is not configured (EMAIL_WEBHOOK_SECRET)")
    if (request.content_length or 0) > MAX_BODY:
        return _error(413, "body too large")
    now = services.clock.now()
    problem = _signed(secret, now)
    if problem is not None:
        return _error(401, problem)
    try:
        payload = json.loads(request.get_data() or b"null")
    except ValueError:
        return _error(400, "body is not JSON")
    event = _event(payload)
    if isinstance(event, str):
        return _error(400, event)
    if event["type"] == "bounce" and event["bounce_type"] == "soft":
        return jsonify({"ignored": "soft bounce: the address may work later"}), 200
    session = services.db.session()
    members = _members(session, event["email"], event["message_id"])
    occurred_at = event["occurred_at"] or now
    for member in members:
        if event["type"] == "bounce":
            consents.mark_undeliverable(session, member, "email", now, "hard bounce")
        else:
            consents.record_consent(
                session,
                member_id=member,
                channel="email",
                purpose=consents.MARKETING,
                granted=False,
                occurred_at=occurred_at,
                source="email_complaint",
                now=now,
                evidence={"event_id": event["event_id"]},
                request_key=f"email_complaint:{member}:{event['event_id']}"[:128],
            )
    session.commit()
    log.info(
        "e-mail event applied",
        extra={"type": event["type"], "members": len(members)},
    )
    return jsonify({"type": event["type"], "members": len(members)}), 200
