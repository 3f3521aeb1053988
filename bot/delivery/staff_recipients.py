"""Staff test recipients: an operator's own LINE account, registered with a one-time code.

The console shows an operator a code (「テスト ABCD2345」, 8 characters, valid 10 minutes, single
use, bound to that operator); the operator sends it to the bot from their own LINE account and
that account receives test deliveries from then on. Guessing is made impractical four ways:
31⁸ possible codes, only a keyed hash of a code is stored (compared in constant time), a
LINE user who sends wrong codes is locked out for a while, and a code lives 10 minutes.

It lives with delivery, not the console: the message router (handlers/) may use features but
not the console, and the test sender (`staff_sends`) needs the same list of recipients.
A deactivated operator's recipient stays in the table but is never used.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.line.routing import HandlerContext, text
from bot.models import Operator, Shopper, StaffCode, StaffCodeAttempt, StaffRecipient

log = logging.getLogger(__name__)

CODE_LIFETIME = timedelta(minutes=10)
CODE_LENGTH = 8
# No 0/O, 1/I/L: read off a screen and typed on a phone without mix-ups.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_PREFIX = "テスト"
LOCK_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5  # wrong codes per LINE user inside the window
ATTEMPTS_KEPT = timedelta(days=1)
# What the conversation log keeps instead of the code itself.
LOGGED_TEXT = "［テスト配信の受信登録コード］"
# After NFKC (full-width letters, half-width katakana), spaces and dashes are left out.
_SEPARATORS = re.compile(r"[\s\-‐―ー−]")
_CODE = re.compile(rf"[A-Z0-9]{{{CODE_LENGTH}}}")

REPLIES = {
    "registered": (
        "{name}さんのLINEアカウントをテスト配信の受信先に登録しました。"
        "コンソールから送ったテスト配信がこのトークに届きます。"
    ),
    "invalid": ("コードが正しくありません。コンソールに表示されたコードをもう一度ご確認ください。"),
    "expired": "このコードは有効期限が切れています。コンソールで新しいコードを表示してください。",
    "used": "このコードは使用済みです。コンソールで新しいコードを表示してください。",
    "locked": (
        "コードの入力ミスが続いたため、しばらく登録できません。15分ほどしてからお試しください。"
    ),
    "taken": (
        "このLINEアカウントは既に別のスタッフのテスト配信の受信先です。"
        "コンソールで登録を解除してからお試しください。"
    ),
}


class Outcome(enum.StrEnum):
    REGISTERED = "registered"
    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"
    LOCKED = "locked"
    TAKEN = "taken"


@dataclass(frozen=True)
class Redemption:
    """What became of a code sent to the bot; `operator` is set when it registered."""

    outcome: Outcome
    operator: Operator | None = None

    @property
    def reply(self) -> str:
        name = self.operator.name if self.operator else ""
        return REPLIES[self.outcome.value].format(name=name)


@dataclass(frozen=True)
class Recipient:
    """A test recipient as the console lists it."""

    operator_id: int
    operator_name: str
    operator_email: str
    line_user_id: str
    display_name: str | None
    registered_at: datetime
    active: bool


# -- codes ----------------------------------------------------------------------------------


def code_from_message(body: str) -> str | None:
    """The code in a message such as 「テスト ABCD-2345」, or None if it is not one."""
    normalised = unicodedata.normalize("NFKC", body).strip().upper()
    if not normalised.startswith(CODE_PREFIX):
        return None
    match = _CODE.fullmatch(_SEPARATORS.sub("", normalised[len(CODE_PREFIX) :]))
    return match.group(0) if match else None


def code_hash(secret: str, code: str) -> str:
    """The keyed hash kept instead of the code: a copy of the table does not give codes away."""
    key = secret.encode()
    return hmac.new(key, b"staff-test-code\x00" + code.encode(), hashlib.sha256).hexdigest()


def issue_code(session: Session, operator: Operator, secret: str, now: datetime) -> str:
    """A new code for the operator (their unused older codes stop working); shown once."""
    session.execute(
        delete(StaffCode).where(
            (StaffCode.operator_id == operator.id) | (StaffCode.expires_at <= now)
        )
    )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    session.add(
        StaffCode(
            operator_id=operator.id,
            code_hash=code_hash(secret, code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )
    session.flush()
    return code


def display_code(code: str) -> str:
    """The message to send, as the console shows it: 「テスト ABCD-2345」."""
    half = len(code) // 2
    return f"{CODE_PREFIX} {code[:half]}-{code[half:]}"


def is_locked(session: Session, line_user_id: str, now: datetime) -> bool:
    """True while the LINE user has too many recent wrong codes."""
    failures = session.scalar(
        select(func.count()).where(
            StaffCodeAttempt.line_user_id == line_user_id,
            StaffCodeAttempt.succeeded.is_(False),
            StaffCodeAttempt.created_at > now - LOCK_WINDOW,
        )
    )
    return (failures or 0) >= MAX_FAILURES


def redeem(
    session: Session, line_user_id: str, code: str, secret: str, now: datetime
) -> Redemption:
    """Register the LINE user as the test recipient of the code's operator, if the code is
    right, fresh, unused and the operator active. Never commits."""
    session.execute(
        delete(StaffCodeAttempt).where(StaffCodeAttempt.created_at < now - ATTEMPTS_KEPT)
    )
    if is_locked(session, line_user_id, now):
        log.warning("staff code refused: locked")
        return Redemption(Outcome.LOCKED)
    wanted = code_hash(secret, code)
    row = session.scalar(select(StaffCode).where(StaffCode.code_hash == wanted))
    # The lookup is by a keyed hash: its timing says nothing about the code. The comparison
    # proper is constant-time all the same.
    matched = row is not None and hmac.compare_digest(row.code_hash, wanted)
    operator = session.get(Operator, row.operator_id) if matched and row is not None else None
    outcome: Outcome | None = None
    if row is None or operator is None or not operator.active:
        outcome = Outcome.INVALID
    elif row.used_at is not None:
        outcome = Outcome.USED
    elif row.expires_at <= now:
        outcome = Outcome.EXPIRED
    if outcome is not None:
        session.add(StaffCodeAttempt(line_user_id=line_user_id, succeeded=False, created_at=now))
        log.info("staff code refused", extra={"outcome": outcome.value})
        return Redemption(outcome)
    assert row is not None and operator is not None
    holder = session.scalar(
        select(StaffRecipient).where(StaffRecipient.line_user_id == line_user_id)
    )
    if holder is not None and holder.operator_id != operator.id:
        return Redemption(Outcome.TAKEN)
    # Single use even when two deliveries of the same code race: only one update wins.
    won = session.execute(
        update(StaffCode)
        .where(StaffCode.id == row.id, StaffCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        session.add(StaffCodeAttempt(line_user_id=line_user_id, succeeded=False, created_at=now))
        return Redemption(Outcome.USED)
    session.execute(delete(StaffRecipient).where(StaffRecipient.operator_id == operator.id))
    session.flush()
    session.add(
        StaffRecipient(operator_id=operator.id, line_user_id=line_user_id, registered_at=now)
    )
    session.add(StaffCodeAttempt(line_user_id=line_user_id, succeeded=True, created_at=now))
    session.flush()
    log.info("staff test recipient registered", extra={"operator": operator.id})
    return Redemption(Outcome.REGISTERED, operator)


def handle_code_message(ctx: HandlerContext, code: str) -> None:
    """A LINE user sent a registration code: register them (or say why not) in Japanese."""
    shopper = ctx.require_shopper()
    result = redeem(
        ctx.session, shopper.line_user_id, code, ctx.settings.secret_key, ctx.clock.now()
    )
    ctx.reply([text(result.reply)])


# -- recipients -----------------------------------------------------------------------------


def recipients(session: Session, *, active_only: bool = True) -> list[Recipient]:
    """Test recipients by operator name; by default only those of active operators."""
    query = (
        select(StaffRecipient, Operator, Shopper.display_name)
        .join(Operator, Operator.id == StaffRecipient.operator_id)
        .outerjoin(Shopper, Shopper.line_user_id == StaffRecipient.line_user_id)
        .order_by(Operator.name, Operator.id)
    )
    if active_only:
        query = query.where(Operator.active.is_(True))
    return [
        Recipient(
            operator_id=operator.id,
            operator_name=operator.name,
            operator_email=operator.email,
            line_user_id=recipient.line_user_id,
            display_name=display_name,
            registered_at=recipient.registered_at,
            active=operator.active,
        )
        for recipient, operator, display_name in session.execute(query).all()
    ]


def recipient_of(session: Session, operator_id: int) -> StaffRecipient | None:
    """The operator's registered account, if any (whether or not the operator is active)."""
    return session.scalar(select(StaffRecipient).where(StaffRecipient.operator_id == operator_id))


def remove(session: Session, operator_id: int) -> bool:
    """Unregister the operator's account (and drop their unused codes); True if there was one."""
    session.execute(delete(StaffCode).where(StaffCode.operator_id == operator_id))
    removed = session.execute(
        delete(StaffRecipient).where(StaffRecipient.operator_id == operator_id)
    ).rowcount
    return bool(removed)
