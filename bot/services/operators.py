"""Console accounts: creating operators, checking passwords, locking out guessers."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from bot.models import LoginAttempt, Operator, OperatorRole

# Failures inside the window that lock an account, or an address, for the rest of it.
LOCK_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
# Higher per address: a shop's staff often share one office IP.
MAX_FAILURES_PER_IP = 20
MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked when the e-mail is unknown, so the answer takes as long as for a real account.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


class OperatorError(ValueError):
    """Bad input for an account; the message is Japanese, for the console."""


@dataclass(frozen=True)
class LoginResult:
    """The operator on success; None with `locked` False for a wrong e-mail or password."""

    operator: Operator | None
    locked: bool = False


def normalize_email(email: str) -> str:
    """E-mail addresses compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def hash_password(password: str) -> str:
    """A salted scrypt hash."""
    return generate_password_hash(password, method="scrypt")


def check_new_password(password: str) -> None:
    """Refuse passwords that are too short to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください。")


def new_session_epoch() -> str:
    return secrets.token_hex(16)


def create_operator(
    session: Session,
    email: str,
    name: str,
    password: str,
    role: OperatorRole,
    now: datetime,
) -> Operator:
    """Add an account; OperatorError for a bad address, short password or duplicate."""
    email = normalize_email(email)
    if not _EMAIL.match(email) or len(email) > 254:
        raise OperatorError("メールアドレスの形式が正しくありません。")
    name = name.strip()
    if not name or len(name) > 100:
        raise OperatorError("名前は1〜100文字で入力してください。")
    check_new_password(password)
    if session.scalar(select(Operator.id).where(Operator.email == email)) is not None:
        raise OperatorError("このメールアドレスは既に登録されています。")
    operator = Operator(
        email=email,
        name=name,
        password_hash=hash_password(password),
        role=role,
        active=True,
        session_epoch=new_session_epoch(),
        created_at=now,
    )
    session.add(operator)
    session.flush()
    return operator


def is_locked(session: Session, email: str, ip: str, now: datetime) -> bool:
    """True while the account or the address has too many recent failures."""
    since = now - LOCK_WINDOW
    email = normalize_email(email)
    last_success = session.scalar(
        select(func.max(LoginAttempt.created_at)).where(
            LoginAttempt.email == email, LoginAttempt.succeeded.is_(True)
        )
    )
    account_since = max(since, last_success) if last_success else since
    account_failures = session.scalar(
        select(func.count()).where(
            LoginAttempt.email == email,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.created_at > account_since,
        )
    )
    if (account_failures or 0) >= MAX_FAILURES_PER_ACCOUNT:
        return True
    ip_failures = session.scalar(
        select(func.count()).where(
            LoginAttempt.ip == ip,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.created_at > since,
        )
    )
    return (ip_failures or 0) >= MAX_FAILURES_PER_IP


def authenticate(
    session: Session, email: str, password: str, ip: str, now: datetime
) -> LoginResult:
    """Check a sign-in; records the attempt unless locked (so a lock ends on time)."""
    email = normalize_email(email)[:254]
    ip = ip[:64]
    if is_locked(session, email, ip, now):
        return LoginResult(None, locked=True)
    operator = session.scalar(select(Operator).where(Operator.email == email))
    if operator is None:
        check_password_hash(_DUMMY_HASH, password)
        ok = False
    else:
        ok = check_password_hash(operator.password_hash, password) and operator.active
    session.add(LoginAttempt(email=email, ip=ip, succeeded=ok, created_at=now))
    if not ok:
        return LoginResult(None)
    assert operator is not None
    operator.last_login_at = now
    return LoginResult(operator)


def active_operators(session: Session) -> list[Operator]:
    """Active accounts by name (transfer targets)."""
    return list(
        session.scalars(select(Operator).where(Operator.active.is_(True)).order_by(Operator.name))
    )


def all_operators(session: Session) -> list[Operator]:
    """Every account, active first."""
    return list(session.scalars(select(Operator).order_by(Operator.active.desc(), Operator.name)))


def set_role(session: Session, operator: Operator, role: OperatorRole, acting: Operator) -> None:
    """Change a role; an admin cannot demote themselves (the shop would lose its last admin)."""
    if operator.id == acting.id and role is not OperatorRole.ADMIN:
        raise OperatorError("自分自身の管理者権限は外せません。")
    operator.role = role


def set_active(session: Session, operator: Operator, active: bool, acting: Operator) -> None:
    """Deactivate (or reactivate) an account; deactivation ends its sessions at once."""
    if operator.id == acting.id and not active:
        raise OperatorError("自分自身のアカウントは無効にできません。")
    operator.active = active
    if not active:
        operator.session_epoch = new_session_epoch()


def end_sessions(operator: Operator) -> None:
    """Invalidate every session cookie of the operator (logout)."""
    operator.session_epoch = new_session_epoch()


def prune_login_attempts(session: Session, now: datetime, keep: timedelta) -> int:
    """Delete attempts older than `keep`; returns how many."""
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < now - keep))
    return result.rowcount or 0
