"""Dev tools: the mail dev mode's local SMTP server received (`/dev/mail`), rendered.

Only registered where the playground is (development, or PLAYGROUND_ENABLED). The HTML part
is shown in an iframe with an empty `sandbox` (no scripts, no forms, no same-origin access)
and a Content-Security-Policy that loads nothing but images; the plain-text part and the
headers are shown as escaped text.
"""

from __future__ import annotations

from email.message import EmailMessage
from html import escape
from pathlib import Path

from flask import Blueprint, Flask, Response, abort

from bot.core.services import current_services
from bot.core.settings import REPO_ROOT
from bot.email.sink import ReceivedMail, mailbox

bp = Blueprint("dev_mail", __name__)
DEFAULT_MAILBOX = REPO_ROOT / "instance" / "mail"
HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
_FRAME_CSP = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'"
_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; line-height: 1.6; color: #222 }}
table {{ border-collapse: collapse }} td, th {{ padding: .3em .8em; border-bottom: 1px solid #ddd;
  text-align: left; vertical-align: top }}
pre {{ white-space: pre-wrap; background: #f6f6f6; padding: 1em }}
iframe {{ width: 100%; height: 40em; border: 1px solid #ccc }}
</style></head>
<body><p><a href="/dev/playground">プレイグラウンド</a> / <a href="/dev/mail">受信メール</a></p>
<h1 style="font-size: 1.3em">{title}</h1>
{body}
</body></html>
"""


def init_app(app: Flask) -> None:
    """Register the mailbox pages (dev tools only)."""
    app.register_blueprint(bp)


def _directory() -> Path:
    configured = current_services().settings.dev_mailbox
    return configured if configured is not None else DEFAULT_MAILBOX


def _page(title: str, body: str) -> Response:
    response = Response(_PAGE.format(title=escape(title), body=body), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/dev/mail")
def inbox() -> Response:
    """The newest messages, newest first."""
    mails = mailbox(_directory())
    if not mails:
        return _page(
            "受信メール", "<p>まだメールはありません(SMTP_URL がこのサーバーを指すと届きます)。</p>"
        )
    rows = "".join(
        f'<tr><td><a href="/dev/mail/{escape(m.name)}">{escape(_header(m.message, "Subject"))}'
        f"</a></td><td>{escape(_header(m.message, 'To'))}</td>"
        f"<td>{escape(_header(m.message, 'Date'))}</td></tr>"
        for m in mails
    )
    return _page(
        "受信メール",
        f"<table><tr><th>件名</th><th>宛先</th><th>日時</th></tr>{rows}</table>",
    )


def _find(name: str) -> ReceivedMail:
    if not name.replace("-", "").isdigit():
        abort(404)
    mail = next((m for m in mailbox(_directory(), limit=500) if m.name == name), None)
    if mail is None:
        abort(404)
    return mail


def _header(message: EmailMessage, name: str) -> str:
    value = message.get(name)
    return "" if value is None else str(value)


@bp.get("/dev/mail/<name>")
def show(name: str) -> Response:
    """One message: its headers, the HTML part (sandboxed) and the plain-text part."""
    mail = _find(name)
    message = mail.message
    headers = "".join(
        f"<tr><th>{escape(h)}</th><td>{escape(_header(message, h))}</td></tr>"
        for h in HEADERS
        if message.get(h) is not None
    )
    return _page(
        _header(message, "Subject") or "(件名なし)",
        f"<table>{headers}</table>"
        f"<h2 style='font-size:1.1em'>HTML</h2>"
        f'<iframe sandbox="" src="/dev/mail/{escape(name)}/html" title="HTML"></iframe>'
        f"<h2 style='font-size:1.1em'>テキスト</h2><pre>{escape(mail.part('plain'))}</pre>",
    )


@bp.get("/dev/mail/<name>/html")
def html_part(name: str) -> Response:
    """The HTML part alone, for the sandboxed frame: no scripts, nothing but images load."""
    mail = _find(name)
    response = Response(mail.part("html"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = f"{_FRAME_CSP}; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
