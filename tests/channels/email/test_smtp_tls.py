"""SMTP over TLS against a real server on loopback: STARTTLS with a login, implicit TLS
(smtps://), and a certificate the machine does not trust refused before any login.

The certificate is made for the test by the openssl command line tool and trusted through
SSL_CERT_FILE, which the default context reads when it is created.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from bot.core.settings import Settings
from bot.email.compose import EmailContent, compose
from bot.email.sink import MailSink, free_port
from bot.email.smtp import Mailer, MailUnavailable

NOW = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl, "the TLS tests need the openssl command (Debian: openssl)"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _login(_server, _session, _envelope, mechanism, auth_data):
    return AuthResult(success=auth_data.login == b"shop" and auth_data.password == b"s3cret")


def _message():
    return compose(
        EmailContent("カートに商品が残っています", "<p>本文</p>", "本文"),
        settings=Settings(public_base_url="https://bot.example.com"),
        to="hanako@example.jp",
        message_id_value="<delivery-7.abc@bot.example.com>",
        sent_at=NOW,
        unsubscribe=None,
    )


@pytest.fixture
def starttls_server(certificate):
    sink = MailSink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=_login,
        auth_required=True,
    )
    controller.start()
    yield sink, controller.port
    controller.stop()


def test_starttls_then_login_then_send(starttls_server, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    sink, port = starttls_server
    mailer = Mailer.from_url(f"smtp://shop:s3cret@127.0.0.1:{port}?starttls=1", timeout=5)
    answer = mailer.send(_message(), "noreply@bot.example.com", "hanako@example.jp")
    mailer.close()
    assert answer.startswith("250")
    (mail,) = sink.received
    assert mail.message["Message-ID"] == "<delivery-7.abc@bot.example.com>"
    assert str(mail.message["Subject"]) == "カートに商品が残っています"


def test_without_starttls_the_server_refuses_the_login(starttls_server, certificate):
    _sink, port = starttls_server
    mailer = Mailer.from_url(f"smtp://shop:s3cret@127.0.0.1:{port}", timeout=5)
    with pytest.raises(MailUnavailable):
        mailer.send(_message(), "noreply@bot.example.com", "hanako@example.jp")


def test_an_untrusted_certificate_is_refused_before_the_password_goes(
    starttls_server, tmp_path, monkeypatch
):
    # Trust only an empty bundle: the server's certificate cannot be verified.
    empty = tmp_path / "none.pem"
    empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    sink, port = starttls_server
    mailer = Mailer.from_url(f"smtp://shop:s3cret@127.0.0.1:{port}?starttls=1", timeout=5)
    with pytest.raises(MailUnavailable, match="SSLCertVerificationError|CERTIFICATE_VERIFY"):
        mailer.send(_message(), "noreply@bot.example.com", "hanako@example.jp")
    assert sink.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    sink = MailSink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=_server_context(certificate),
        authenticator=_login,
        auth_required=True,
        # The whole connection is TLS; aiosmtpd only counts a STARTTLS upgrade as TLS.
        auth_require_tls=False,
    )
    controller.start()
    try:
        mailer = Mailer.from_url(f"smtps://shop:s3cret@127.0.0.1:{controller.port}", timeout=5)
        answer = mailer.send(_message(), "noreply@bot.example.com", "hanako@example.jp")
        mailer.close()
    finally:
        controller.stop()
    assert answer.startswith("250")
    assert len(sink.received) == 1
