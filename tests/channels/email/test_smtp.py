"""The SMTP hand-off against a real server on loopback: login, refusals, a dead server."""

from __future__ import annotations

import pytest

from bot.email.sink import free_port
from bot.email.smtp import Mailer, MailRejected, MailUnavailable
from tests.helpers.channels import login_smtp, sample_mail

# The loopback server takes a login without TLS (no certificate in the tests); aiosmtpd
# warns about exactly that.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def auth_server():
    with login_smtp(auth_require_tls=False) as server:
        yield server


def test_login_then_send(auth_server):
    sink, port = auth_server
    mailer = Mailer.from_url(f"smtp://shop:s3cret@127.0.0.1:{port}", timeout=5)
    answer = mailer.send(sample_mail(), "noreply@bot.example.com", "hanako@example.jp")
    mailer.close()
    assert answer.startswith("250")
    (mail,) = sink.received
    assert mail.message["Message-ID"] == "<delivery-1.abc@bot.example.com>"
    assert mail.part("plain").strip() == "本文" and mail.part("html").strip() == "<p>本文</p>"


def test_a_wrong_password_is_worth_another_try_later(auth_server):
    _sink, port = auth_server
    mailer = Mailer.from_url(f"smtp://shop:wrong@127.0.0.1:{port}", timeout=2)
    with pytest.raises(MailUnavailable):
        mailer.send(sample_mail(), "noreply@bot.example.com", "hanako@example.jp")


def test_no_server_is_unavailable_not_unconfirmed():
    mailer = Mailer.from_url(f"smtp://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(MailUnavailable):
        mailer.send(sample_mail(), "noreply@bot.example.com", "hanako@example.jp")


def test_a_refused_message_is_rejected(smtp):
    smtp.sink.refuse = "554 5.7.1 rejected as spam"
    mailer = Mailer.from_url(smtp.url, timeout=5)
    with pytest.raises(MailRejected, match="554"):
        mailer.send(sample_mail(), "noreply@bot.example.com", "hanako@example.jp")
    smtp.sink.refuse = None
    # The session is still usable for the next message.
    answer = mailer.send(sample_mail(), "noreply@bot.example.com", "taro@example.jp")
    assert answer.startswith("250")
    mailer.close()
