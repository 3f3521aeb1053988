"""SMTP over TLS against a real server on loopback: STARTTLS with a login, implicit TLS
(smtps://), and a certificate the machine does not trust refused before any login.

The certificate is made for the test by the openssl command line tool and trusted through
SSL_CERT_FILE, which the default context reads when it is created.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from bot.email.smtp import Mailer, MailUnavailable
from tests.helpers.channels import login_smtp, sample_mail

MAIL = sample_mail("カートに商品が残っています", "<delivery-7.abc@bot.example.com>")


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


@pytest.fixture
def starttls_server(certificate):
    with login_smtp(tls_context=_server_context(certificate), require_starttls=True) as server:
        yield server


def test_starttls_then_login_then_send(starttls_server, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    sink, port = starttls_server
    mailer = Mailer.from_url(f"smtp://shop:s3cret@127.0.0.1:{port}?starttls=1", timeout=5)
    answer = mailer.send(MAIL, "noreply@bot.example.com", "hanako@example.jp")
    mailer.close()
    assert answer.startswith("250")
    (mail,) = sink.received
    assert mail.message["Message-ID"] == "<delivery-7.abc@bot.example.com>"
    assert str(mail.message["Subject"]) == "カートに商品が残っています"


def test_without_starttls_the_server_refuses_the_login(starttls_server, certificate):
    _sink, port = starttls_server
    mailer = Mailer.from_url(f"smtp://shop:s3cret@127.0.0.1:{port}", timeout=5)
    with pytest.raises(MailUnavailable):
        mailer.send(MAIL, "noreply@bot.example.com", "hanako@example.jp")


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
        mailer.send(MAIL, "noreply@bot.example.com", "hanako@example.jp")
    assert sink.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    # The whole connection is TLS; aiosmtpd only counts a STARTTLS upgrade as TLS.
    options = {"ssl_context": _server_context(certificate), "auth_require_tls": False}
    with login_smtp(**options) as (sink, port):
        mailer = Mailer.from_url(f"smtps://shop:s3cret@127.0.0.1:{port}", timeout=5)
        answer = mailer.send(MAIL, "noreply@bot.example.com", "hanako@example.jp")
        mailer.close()
    assert answer.startswith("250")
    assert len(sink.received) == 1
