"""Dev mode's mailbox: what the local SMTP server received, on the dev tools pages."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask

from bot.app import create_app
from bot.core.settings import Settings
from bot.email.compose import EmailContent, compose
from bot.email.sink import MailSink, start
from bot.email.smtp import Mailer

NOW = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)


def test_received_mail_is_listed_and_shown_safely(tmp_path, settings: Settings, app: Flask):
    box = tmp_path / "mail"
    controller = start(MailSink(directory=box))
    try:
        message = compose(
            EmailContent(
                "「美濃焼 マグカップ」がカートに残っています",
                '<p>こんにちは</p><script>alert("x")</script>',
                "こんにちは <b>テキスト</b>",
            ),
            settings=settings,
            to="hanako@example.jp",
            message_id_value="<delivery-7.abc@bot.example.com>",
            sent_at=NOW,
            unsubscribe="https://bot.example.com/email/unsubscribe/t.s",
        )
        mailer = Mailer.from_url(f"smtp://127.0.0.1:{controller.port}", timeout=5)
        mailer.send(message, "noreply@bot.example.com", "hanako@example.jp")
        mailer.close()
    finally:
        controller.stop()
    services = app.extensions["bot"]
    dev = create_app(
        settings.with_changes(playground_enabled=True, dev_mailbox=box),
        line=services.line,
        redis=services.redis,
        database=services.db,
    ).test_client()
    listing = dev.get("/dev/mail").get_data(as_text=True)
    assert "「美濃焼 マグカップ」がカートに残っています" in listing
    (name,) = [p.stem for p in box.glob("*.eml")]
    page = dev.get(f"/dev/mail/{name}").get_data(as_text=True)
    assert '<iframe sandbox="" src="/dev/mail/' in page
    assert "List-Unsubscribe-Post" in page and "&lt;delivery-7.abc@bot.example.com&gt;" in page
    assert "こんにちは &lt;b&gt;テキスト&lt;/b&gt;" in page  # the text part, escaped
    assert "<script>" not in page
    frame = dev.get(f"/dev/mail/{name}/html")
    assert "sandbox" in frame.headers["Content-Security-Policy"]
    assert "default-src 'none'" in frame.headers["Content-Security-Policy"]
    for bad in ("../../etc/passwd", "..%2F..%2Fetc", "nope"):
        assert dev.get(f"/dev/mail/{bad}").status_code == 404


def test_the_mailbox_is_not_served_outside_the_dev_tools(client):
    assert client.get("/dev/mail").status_code == 404
