"""Console accounts: creating operators, checking passwords, locking out guessers."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

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
# werkzeug's method for new password hashes: scrypt, slow on purpose (about 75 ms a hash).
# Settings.password_hash_method passes it in; only the test suite chooses a cheaper one, and
# a production app refuses to start with anything else (bot.console.init_app).
PASSWORD_HASH_METHOD = "scrypt"


class OperatorError(ValueError):
    """Bad input for an account; the message is Japanese, for the console."""


class AccountLocked(OperatorError):
    """Too many recent password failures for the account or the address."""


@dataclass(frozen=True)
class LoginResult:
    """The operator on success; None with `locked` False for a wrong e-mail or password."""

    operator: Operator | None
    locked: bool = False


def normalize_email(email: str) -> str:
    """E-mail addresses compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def hash_password(password: str, method: str = PASSWORD_HASH_METHOD) -> str:
    """A salted hash (scrypt unless the caller's settings say otherwise)."""
    return generate_password_hash(password, method=method)


@cache
def _dummy_hash(method: str) -> str:
    """Checked when the e-mail is unknown, so the answer takes as long as for a real account."""
    return hash_password("not-a-real-password", method)


_dummy_hash(PASSWORD_HASH_METHOD)  # made at import, as before: the first miss costs no more


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
    *,
    hash_method: str = PASSWORD_HASH_METHOD,
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
        password_hash=hash_password(password, hash_method),
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
    session: Session,
    email: str,
    password: str,
    ip: str,
    now: datetime,
    *,
    hash_method: str = PASSWORD_HASH_METHOD,
) -> LoginResult:
    """Check a sign-in; records the attempt unless locked (so a lock ends on time).

    `hash_method` is that of the stand-in hash checked for an unknown e-mail; stored hashes
    name their own method.
    """
    email = normalize_email(email)[:254]
    ip = ip[:64]
    if is_locked(session, email, ip, now):
        return LoginResult(None, locked=True)
    operator = session.scalar(select(Operator).where(Operator.email == email))
    if operator is None:
        check_password_hash(_dummy_hash(hash_method), password)
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
        end_sessions(operator)


def end_sessions(operator: Operator) -> None:
    """Invalidate every session cookie of the operator (logout, password change or reset,
    deactivation)."""
    operator.session_epoch = new_session_epoch()


def change_password(
    session: Session,
    operator: Operator,
    current: str,
    new: str,
    new_again: str,
    ip: str,
    now: datetime,
    *,
    hash_method: str = PASSWORD_HASH_METHOD,
) -> None:
    """The operator replaces their own password; it ends all their sessions.

    The current password is checked like a sign-in (same lockout, attempt recorded), so a
    stolen session cannot be used to guess it. The attempt is recorded even when the change
    is refused: commit either way. The caller starts a new session for the operator.
    """
    ip = ip[:64]
    if is_locked(session, operator.email, ip, now):
        raise AccountLocked(
            "パスワードの入力ミスが続いたため、しばらく変更できません。"
            "15分ほどしてからお試しください。"
        )
    ok = check_password_hash(operator.password_hash, current)
    session.add(LoginAttempt(email=operator.email, ip=ip, succeeded=ok, created_at=now))
    if not ok:
        raise OperatorError("現在のパスワードが違います。")
    check_new_password(new)
    if new != new_again:
        raise OperatorError("新しいパスワードが確認用と一致しません。")
    if new == current:
        # Otherwise a temporary password set by an admin could simply be kept.
        raise OperatorError("現在のパスワードとは別のパスワードを設定してください。")
    operator.password_hash = hash_password(new, hash_method)
    operator.must_change_password = False
    end_sessions(operator)


def reset_password(
    session: Session,
    operator: Operator,
    password: str,
    acting: Operator,
    *,
    hash_method: str = PASSWORD_HASH_METHOD,
) -> None:
    """An admin sets a temporary password: sessions and lockout end, a change is required."""
    if operator.id == acting.id:
        raise OperatorError("自分のパスワードは「パスワード変更」から変更してください。")
    set_password(session, operator, password, temporary=True, hash_method=hash_method)


def set_password(
    session: Session,
    operator: Operator,
    password: str,
    *,
    temporary: bool,
    hash_method: str = PASSWORD_HASH_METHOD,
) -> None:
    """Set a password from outside the account (an admin, or the command line for the last
    admin who forgot theirs): sessions and the account's lockout end; a temporary one must be
    changed at the next sign-in."""
    check_new_password(password)
    operator.password_hash = hash_password(password, hash_method)
    operator.must_change_password = temporary
    end_sessions(operator)
    # The account lock is counted from these rows; the per-address limit stays as it is.
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.email == operator.email, LoginAttempt.succeeded.is_(False)
        )
    )


def prune_login_attempts(session: Session, now: datetime, keep: timedelta) -> int:
    """Delete attempts older than `keep`; returns how many."""
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < now - keep))
    return result.rowcount or 0


def find_operator(session: Session, email: str) -> Operator | None:
    """The account with this e-mail address (compared as `normalize_email` stores it)."""
    return session.scalar(select(Operator).where(Operator.email == normalize_email(email)))
