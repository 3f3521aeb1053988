"""Handing e-mail to an SMTP server (SMTP_URL): TLS, authentication, timeouts, and what an
error means for the message — refused for good, worth another try, or unknown.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

from bot.core.settings import SmtpTarget, parse_smtp_url


class MailError(Exception):
    """The server did not take the message."""


class MailRejected(MailError):
    """Permanent (5xx at MAIL, RCPT or DATA): sending it again would be refused again."""


class MailUnavailable(MailError):
    """Passing (no connection, 4xx before the message was sent): worth another try."""


class MailUnconfirmed(MailError):
    """The message was sent but the server's answer was lost (connection dropped or timed
    out after DATA): it may or may not have been accepted, so it must not be sent again."""


@dataclass
class Mailer:
    """One SMTP session per batch: `open()`, `send()` per message, `close()`."""

    target: SmtpTarget
    timeout: float = 10.0
    local_hostname: str | None = None
    _smtp: smtplib.SMTP | None = None

    @classmethod
    def from_url(cls, url: str, timeout: float = 10.0) -> Mailer:
        """A mailer for SMTP_URL (ConfigError if it is malformed)."""
        return cls(parse_smtp_url(url), timeout)

    def open(self) -> None:
        """Connect, say EHLO, upgrade to TLS if asked and log in; MailUnavailable if not."""
        if self._smtp is not None:
            return
        target = self.target
        try:
            if target.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    target.host,
                    target.port,
                    timeout=self.timeout,
                    local_hostname=self.local_hostname,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(
                    target.host,
                    target.port,
                    timeout=self.timeout,
                    local_hostname=self.local_hostname,
                )
        except (smtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(f"SMTP connection: {type(exc).__name__}: {exc}") from exc
        try:
            smtp.ehlo()
            if target.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if target.username:
                smtp.login(target.username, target.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise MailUnavailable(f"SMTP login refused: {exc.smtp_code}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            smtp.close()  # connected but unusable (no TLS, a bad certificate, no AUTH)
            raise MailUnavailable(f"SMTP connection: {type(exc).__name__}: {exc}") from exc
        self._smtp = smtp

    def close(self) -> None:
        """End the session (errors on the way out do not matter)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def send(self, message: EmailMessage, sender: str, recipient: str) -> str:
        """Hand one message over; returns the server's answer to DATA.

        Raises MailRejected, MailUnavailable or MailUnconfirmed (see each). A failure after
        the message went out closes the session, so the next message starts a new one.
        """
        self.open()
        smtp = self._smtp
        assert smtp is not None
        try:
            smtp.ehlo_or_helo_if_needed()
            code, answer = smtp.mail(sender)
            if code != 250:
                raise self._refused(code, answer, smtp, "MAIL")
            code, answer = smtp.rcpt(recipient)
            if code not in (250, 251):
                raise self._refused(code, answer, smtp, "RCPT")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            # Nothing was sent yet: safe to try again.
            raise MailUnavailable(f"SMTP before DATA: {type(exc).__name__}: {exc}") from exc
        try:
            # CRLF line ends: smtplib leaves the bytes of a message as they are.
            code, answer = smtp.data(message.as_bytes(policy=policy.SMTP))
            if code != 250:  # smtplib returns the answer to the end of the message as it is
                raise smtplib.SMTPDataError(code, answer)
        except smtplib.SMTPDataError as exc:
            # The server answered DATA (or the end of the message) with a refusal.
            self._reset(smtp)
            raise (MailRejected if exc.smtp_code >= 500 else MailUnavailable)(
                f"SMTP DATA {exc.smtp_code}: {_text(exc.smtp_error)}"
            ) from exc
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise MailUnconfirmed(f"SMTP answer lost: {type(exc).__name__}: {exc}") from exc
        return f"{code} {_text(answer)}"

    def _refused(self, code: int, answer: bytes, smtp: smtplib.SMTP, stage: str) -> MailError:
        self._reset(smtp)
        kind = MailRejected if code >= 500 else MailUnavailable
        return kind(f"SMTP {stage} {code}: {_text(answer)}")

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


def _text(answer: bytes | str) -> str:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
    return " ".join(text.split())[:200]
