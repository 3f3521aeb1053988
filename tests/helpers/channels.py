"""Helpers for the e-mail and SMS channels: a loopback SMTP server, members known by contact,
and reading what each channel received."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from bot import consents
from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.email.compose import EmailContent, compose
from bot.email.sink import MailSink, ReceivedMail, free_port, start
from bot.line.gateway import InMemoryLineGateway
from sms_emulator import EmulatorServer as SmsEmulatorServer
from tests.helpers.console import FAST_PASSWORD_HASH

WEBHOOK_SECRET = "test-email-webhook-secret"


@dataclass
class Smtp:
    """A real SMTP server on loopback and what it received."""

    sink: MailSink
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[ReceivedMail]:
        return list(self.sink.received)

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.sink.received if address in m.recipients]


@contextmanager
def loopback_smtp() -> Iterator[Smtp]:
    sink = MailSink()
    controller = start(sink)
    try:
        yield Smtp(sink, controller.port)
    finally:
        controller.stop()


def add_contact(
    app: Flask,
    member: str,
    now: datetime,
    *,
    email: str | None = None,
    phone: str | None = None,
    consent: tuple[str, ...] = (),
) -> None:
    """The shop gave the member's e-mail/phone and, per channel in `consent`, an opt-in."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        consents.set_contact(session, member, email=email, phone=phone, now=now)
        for channel in consent:
            consents.record_consent(
                session,
                member_id=member,
                channel=channel,
                purpose="marketing",
                granted=True,
                occurred_at=now,
                source="checkout_checkbox",
                now=now,
                evidence={"form_version": "2026-10"},
            )
        session.commit()


def unsubscribe_path(mail: ReceivedMail) -> str:
    """The path of the https link in the mail's List-Unsubscribe header."""
    header = str(mail.message["List-Unsubscribe"])
    match = re.search(r"<https?://[^/>]+(/email/unsubscribe/[^>]+)>", header)
    assert match, header
    return match[1]


def tracked_paths(text: str) -> list[str]:
    """The /r/ paths of the bot's tracking links in a text or HTML part."""
    return re.findall(r"https://bot\.example\.com(/r/[A-Za-z0-9_./-]+)", text)


def post_email_event(
    client: FlaskClient,
    payload: Any,
    *,
    now: datetime,
    secret: str = WEBHOOK_SECRET,
    stamp: int | None = None,
) -> Any:
    """POST a signed bounce/complaint report, as the mail service does."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    stamp = int(now.timestamp()) if stamp is None else stamp
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return client.post(
        "/email/events",
        data=body,
        content_type="application/json",
        headers={
            "X-Email-Timestamp": str(stamp),
            "X-Email-Signature": signature.hexdigest(),
        },
    )


SMS_ACCOUNT = "AC" + "1" * 32
SMS_TOKEN = "test-sms-auth-token"
SMS_SENDER = "+815011112222"


def sms_emulator_server() -> SmsEmulatorServer:
    """The SMS emulator with the test account and sender number, started."""
    server = SmsEmulatorServer(SMS_ACCOUNT, SMS_TOKEN, numbers=[SMS_SENDER], rate_limit=50)
    return server.start()


def channel_settings(settings: Settings, smtp: Smtp, sms: SmsEmulatorServer) -> Settings:
    """The test settings with e-mail to the loopback SMTP server and SMS to the emulator."""
    return settings.with_changes(
        smtp_url=smtp.url,
        shop_name="暮らしの器 やまと",
        shop_address="東京都台東区蔵前1-2-3",
        email_webhook_secret=WEBHOOK_SECRET,
        sms_account_sid=SMS_ACCOUNT,
        sms_auth_token=SMS_TOKEN,
        sms_from=SMS_SENDER,
        sms_api_base_url=sms.base_url,
        sms_read_timeout=2.0,
    )


def channel_app(settings: Settings, db: Database, redis: Redis, line: InMemoryLineGateway) -> Flask:
    """The app of the channel tests (LINE in memory; e-mail and SMS over sockets)."""
    fast = settings.with_changes(password_hash_method=FAST_PASSWORD_HASH)
    return create_app(fast, line=line, redis=redis, database=db)


def sample_mail(subject: str = "件名", message_id: str = "<delivery-1.abc@bot.example.com>"):
    """A composed two-part mail to hanako@example.jp, for the SMTP hand-off tests."""
    return compose(
        EmailContent(subject, "<p>本文</p>", "本文"),
        settings=Settings(public_base_url="https://bot.example.com"),
        to="hanako@example.jp",
        message_id_value=message_id,
        sent_at=datetime(2025, 7, 1, 1, 0, tzinfo=UTC),
        unsubscribe=None,
    )


def shop_login(_server: Any, _session: Any, _envelope: Any, _mechanism: Any, auth_data: Any):
    """aiosmtpd authenticator: only shop / s3cret may log in."""
    return AuthResult(success=auth_data.login == b"shop" and auth_data.password == b"s3cret")


@contextmanager
def login_smtp(**options: Any) -> Iterator[tuple[MailSink, int]]:
    """A loopback SMTP server that requires the shop's login (TLS options passed through)."""
    sink = MailSink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=shop_login,
        auth_required=True,
        **options,
    )
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()
