"""Settings read once from the environment into a frozen dataclass.

One coherent thing at over 400 lines: every setting, its default and its check, in one
place, so a deployment's whole configuration reads top to bottom.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from line_messages.links import host_allowed, link_host, normalise_host

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE_PATH = REPO_ROOT / "instance" / "bot.sqlite3"
REAL_LINE_API = "https://api.line.me"
REAL_LINE_API_DATA = "https://api-data.line.me"  # images: rich menu content, uploads
REAL_SMS_API = "https://api.twilio.com"
# Dev mode's SMS account: the local SMS emulator's (bot/devserver.py starts it on this port).
DEV_SMS_PORT = 8083
DEV_SMS = {
    "SMS_ACCOUNT_SID": "AC" + "0" * 32,
    "SMS_AUTH_TOKEN": "dev-sms-auth-token",
    "SMS_FROM": "+815011112222",
}

# Development defaults: harmless values that let `make run` start without credentials.
DEV_SECRETS = {
    "LINE_CHANNEL_SECRET": "dev-channel-secret",
    "LINE_CHANNEL_ACCESS_TOKEN": "dev-channel-access-token",
    "SHOP_API_SECRET": "dev-shop-api-secret",
    "SECRET_KEY": "dev-secret-key-change-me",
}
ENVIRONMENTS = ("production", "development", "test")
# Secrets written in this repository (dev defaults, the test suite's, the benchmarks'): anyone
# can read them, so production refuses every one of them for every secret variable.
PUBLISHED_SECRETS = frozenset(
    {
        *DEV_SECRETS.values(),
        "test-channel-secret",
        "test-channel-access-token",
        "test-shop-api-secret",
        "test-secret-key",
        DEV_SMS["SMS_AUTH_TOKEN"],
        "test-sms-auth-token",
        "bench-channel-secret",
        "bench-shop-secret",
        "bench-secret",
        "bench-token",
    }
)
# For the keys and tokens this service checks itself (LINE issues the channel secret and token).
MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


T = TypeVar("T")


def exit_on_config_error(build: Callable[[], T], exit_code: int = 1) -> T:
    """`build()`, or one line on stderr and a non-zero exit (no traceback) on a ConfigError."""
    try:
        return build()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exit_code) from None


@dataclass(frozen=True)
class QuietHours:
    """A daily local-time window (may wrap past midnight) in which marketing waits."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        """True if the local wall-clock time falls inside the window."""
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


MonthDay = tuple[int, int]


@dataclass(frozen=True)
class ClosedDays:
    """Days without staff whatever the weekday: Japan's public holidays and the shop's own."""

    national_holidays: bool = True  # 祝日, 振替休日 and 国民の休日
    yearly: tuple[tuple[MonthDay, MonthDay], ...] = ()  # inclusive; may wrap past 12-31
    dates: frozenset[date] = frozenset()

    def yearly_contains(self, day: date) -> bool:
        md = (day.month, day.day)
        return any(
            (first <= md <= last) if first <= last else (md >= first or md <= last)
            for first, last in self.yearly
        )


@dataclass(frozen=True)
class BusinessHours:
    """Staffed hours: weekdays (0=Monday), a local-time window, and closed days."""

    weekdays: frozenset[int]
    start: time
    end: time
    closed: ClosedDays = field(default_factory=ClosedDays)


@dataclass(frozen=True)
class Settings:
    """All configuration of one process; built by `from_env` or directly in tests."""

    env: str = "development"
    line_channel_secret: str = DEV_SECRETS["LINE_CHANNEL_SECRET"]
    line_channel_access_token: str = DEV_SECRETS["LINE_CHANNEL_ACCESS_TOKEN"]
    line_api_base_url: str = REAL_LINE_API
    # LINE_API_DATA_BASE_URL; None: api-data.line.me with the real API, else the same base URL
    # (the emulator serves both hosts' paths).
    line_api_data_base_url: str | None = None
    line_connect_timeout: float = 3.0
    line_read_timeout: float = 10.0
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    redis_url: str | None = None
    shop_api_secret: str = DEV_SECRETS["SHOP_API_SECRET"]
    shop_timezone: str = "Asia/Tokyo"
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: str = DEV_SECRETS["SECRET_KEY"]
    shop_name: str = "サンプルストア"
    shop_link_url: str = "http://127.0.0.1:8000/dev/shop-login"
    templates_path: Path | None = None
    placeholder_image_url: str = "https://placehold.jp/600x600.png?text=No%20Image"
    # The icon shown with staff replies from the console (LINE's `sender.iconUrl`).
    staff_icon_url: str | None = None
    scenarios_path: Path | None = None
    faq_path: Path | None = None
    dispatch_interval_seconds: int = 10
    quiet_hours: QuietHours | None = field(
        default_factory=lambda: QuietHours(time(21, 0), time(9, 0))
    )
    daily_marketing_cap: int = 2
    abandonment_cooldown_hours: int = 72
    # At most one coupon-bearing message per shopper in this many days (0: no limit).
    coupon_interval_days: int = 30
    # A claimed row not finished within the lease is claimed again (its worker died); a send
    # batch stops starting pushes after DELIVERY_BATCH_SECONDS, so it always ends within it.
    delivery_lease_seconds: int = 45
    delivery_batch_seconds: int = 20
    delivery_send_threads: int = 8
    health_max_dispatch_age_seconds: int = 60
    health_max_due_age_seconds: int = 300
    business_hours: BusinessHours = field(
        default_factory=lambda: BusinessHours(frozenset(range(5)), time(10, 0), time(18, 0))
    )
    support_idle_timeout_minutes: int = 60
    proxy_fix_hops: int = 0
    support_response_minutes: int = 30
    # Hosts the shop's links may open (tracking links redirect only there); empty: the hosts
    # of SHOP_LINK_URL and PUBLIC_BASE_URL. `*.example.jp` allows every subdomain.
    link_hosts: tuple[str, ...] = ()
    # The 「お問い合わせ」 link of the messages; None: the shop's top page (SHOP_LINK_URL's).
    shop_help_url: str | None = None
    metrics_token: str | None = None
    # Handled and ignored webhook events (with the shoppers' words in their payloads) are
    # deleted this many days after arrival; the conversation log keeps the chat.
    webhook_events_kept_days: int = 30
    # werkzeug's method for operator password hashes. Not read from the environment: only the
    # test suite sets a cheaper one, and a production app refuses anything but scrypt.
    password_hash_method: str = "scrypt"
    # The playground (/dev/playground): always on in development; elsewhere only when set.
    playground_enabled: bool = False
    # E-mail and SMS channels (bot/email, bot.delivery.channels). SMTP_URL None: no e-mail.
    smtp_url: str | None = None
    smtp_timeout: float = 10.0
    mail_from: str | None = None  # MAIL_FROM; None: the shop's name at noreply@<bot host>
    shop_address: str = ""  # the sender's address in every mail (特定電子メール法)
    unsubscribe_mailto: str | None = None  # optional mailto: of List-Unsubscribe
    email_webhook_secret: str | None = None  # signs the bounce/complaint intake
    dev_mailbox: Path | None = None  # DEV_MAILBOX: where dev mode's SMTP server keeps mail
    # Quiet hours per channel (default: QUIET_HOURS for both).
    email_quiet_hours: QuietHours | None = field(
        default_factory=lambda: QuietHours(time(21, 0), time(9, 0))
    )
    sms_quiet_hours: QuietHours | None = field(
        default_factory=lambda: QuietHours(time(21, 0), time(9, 0))
    )
    # SMS through Twilio Programmable Messaging (or the local emulator in dev and tests).
    # Off in production unless SMS_ACCOUNT_SID is set.
    sms_enabled: bool = True
    sms_account_sid: str = DEV_SMS["SMS_ACCOUNT_SID"]
    sms_auth_token: str = DEV_SMS["SMS_AUTH_TOKEN"]
    sms_from: str | None = DEV_SMS["SMS_FROM"]
    sms_messaging_service_sid: str | None = None
    sms_api_base_url: str = f"http://127.0.0.1:{DEV_SMS_PORT}"
    sms_connect_timeout: float = 3.0
    sms_read_timeout: float = 10.0
    # An erased member's e-mail and SMS consent records are kept this long, pseudonymised
    # (特定電子メール法's record of opt-in; see bot/consents/erasure.py).
    erased_consent_kept_days: int = 365

    @property
    def tz(self) -> ZoneInfo:
        """The shop's time zone, for quiet hours and display only."""
        return ZoneInfo(self.shop_timezone)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def playground_on(self) -> bool:
        """Whether /dev/playground is served: in development, or when PLAYGROUND_ENABLED."""
        return self.env == "development" or self.playground_enabled

    @property
    def allowed_link_hosts(self) -> frozenset[str]:
        """The hosts a shop link may open: LINK_HOSTS, or the shop's and the bot's own."""
        if self.link_hosts:
            return frozenset(self.link_hosts)
        return frozenset(
            host for url in (self.shop_link_url, self.public_base_url) if (host := link_host(url))
        )

    @property
    def line_data_url(self) -> str:
        """Where LINE's data endpoints (rich menu images) answer."""
        if self.line_api_data_base_url:
            return self.line_api_data_base_url
        if self.line_api_base_url == REAL_LINE_API:
            return REAL_LINE_API_DATA
        return self.line_api_base_url

    @property
    def help_url(self) -> str:
        """Where 「お問い合わせ」 leads: SHOP_HELP_URL, or the top page of the shop's site."""
        if self.shop_help_url:
            return self.shop_help_url
        parts = urlsplit(self.shop_link_url)
        return f"{parts.scheme}://{parts.netloc}/"

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields replaced (tests and dev tooling)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise ConfigError naming the first bad one."""
        env_vars = os.environ if environ is None else environ
        reader = _Reader(env_vars)
        env = reader.get("APP_ENV", "production")
        if env not in ENVIRONMENTS:
            raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
        production = env == "production"

        def secret(name: str) -> str:
            value = reader.get(name)
            if value:
                return value
            if production:
                raise ConfigError(f"{name} is not set")
            return DEV_SECRETS[name]

        settings = cls(
            env=env,
            line_channel_secret=secret("LINE_CHANNEL_SECRET"),
            line_channel_access_token=secret("LINE_CHANNEL_ACCESS_TOKEN"),
            line_api_base_url=reader.url("LINE_API_BASE_URL", REAL_LINE_API),
            line_api_data_base_url=(
                reader.url("LINE_API_DATA_BASE_URL", None)
                if reader.get("LINE_API_DATA_BASE_URL")
                else None
            ),
            line_connect_timeout=reader.number("LINE_CONNECT_TIMEOUT", 3.0),
            line_read_timeout=reader.number("LINE_READ_TIMEOUT", 10.0),
            database_url=normalize_database_url(
                reader.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
            ),
            redis_url=_redis_url(reader.get("REDIS_URL"), production),
            shop_api_secret=secret("SHOP_API_SECRET"),
            shop_timezone=_timezone(reader.get("SHOP_TIMEZONE", "Asia/Tokyo")),
            public_base_url=reader.url(
                "PUBLIC_BASE_URL", None if production else cls.public_base_url
            ),
            secret_key=secret("SECRET_KEY"),
            shop_name=reader.get("SHOP_NAME", cls.shop_name),
            shop_link_url=reader.url("SHOP_LINK_URL", None if production else cls.shop_link_url),
            templates_path=reader.path("TEMPLATES_PATH"),
            placeholder_image_url=reader.url("PLACEHOLDER_IMAGE_URL", cls.placeholder_image_url),
            staff_icon_url=reader.icon_url("STAFF_ICON_URL"),
            scenarios_path=reader.path("SCENARIOS_PATH"),
            faq_path=reader.path("FAQ_PATH"),
            dispatch_interval_seconds=int(reader.number("DISPATCH_INTERVAL_SECONDS", 10, 1)),
            quiet_hours=parse_quiet_hours(env_vars.get("QUIET_HOURS", "21:00-09:00")),
            daily_marketing_cap=int(reader.number("DAILY_MARKETING_CAP", 2, 0)),
            abandonment_cooldown_hours=int(reader.number("ABANDONMENT_COOLDOWN_HOURS", 72, 0)),
            coupon_interval_days=int(reader.number("COUPON_INTERVAL_DAYS", 30, 0)),
            delivery_lease_seconds=int(reader.number("DELIVERY_LEASE_SECONDS", 45, 30)),
            delivery_batch_seconds=int(reader.number("DELIVERY_BATCH_SECONDS", 20, 1)),
            delivery_send_threads=int(reader.number("DELIVERY_SEND_THREADS", 8, 1)),
            health_max_dispatch_age_seconds=int(
                reader.number("HEALTH_MAX_DISPATCH_AGE_SECONDS", 60, 1)
            ),
            health_max_due_age_seconds=int(reader.number("HEALTH_MAX_DUE_AGE_SECONDS", 300, 1)),
            business_hours=replace(
                parse_business_hours(reader.get("BUSINESS_HOURS", "mon-fri 10:00-18:00")),
                closed=ClosedDays(
                    national_holidays=reader.flag("CLOSED_ON_HOLIDAYS", True),
                    **parse_closed_days(reader.get("CLOSED_DAYS")),
                ),
            ),
            support_idle_timeout_minutes=int(reader.number("SUPPORT_IDLE_TIMEOUT_MINUTES", 60, 1)),
            webhook_events_kept_days=int(reader.number("WEBHOOK_EVENTS_KEPT_DAYS", 30, 1)),
            proxy_fix_hops=int(reader.number("PROXY_FIX_HOPS", 0, 0)),
            support_response_minutes=int(reader.number("SUPPORT_RESPONSE_MINUTES", 30, 1)),
            link_hosts=parse_link_hosts(reader.get("LINK_HOSTS")),
            shop_help_url=(
                reader.url("SHOP_HELP_URL", None) if reader.get("SHOP_HELP_URL") else None
            ),
            metrics_token=reader.get("METRICS_TOKEN") or None,
            playground_enabled=reader.flag("PLAYGROUND_ENABLED", False),
            smtp_url=reader.get("SMTP_URL") or None,
            smtp_timeout=reader.number("SMTP_TIMEOUT", 10.0),
            mail_from=reader.get("MAIL_FROM") or None,
            shop_address=reader.get("SHOP_ADDRESS", ""),
            unsubscribe_mailto=reader.get("UNSUBSCRIBE_MAILTO") or None,
            email_webhook_secret=reader.get("EMAIL_WEBHOOK_SECRET") or None,
            dev_mailbox=reader.path("DEV_MAILBOX"),
            email_quiet_hours=parse_quiet_hours(
                env_vars.get("EMAIL_QUIET_HOURS", env_vars.get("QUIET_HOURS", "21:00-09:00"))
            ),
            sms_quiet_hours=parse_quiet_hours(
                env_vars.get("SMS_QUIET_HOURS", env_vars.get("QUIET_HOURS", "21:00-09:00"))
            ),
            erased_consent_kept_days=int(reader.number("ERASED_CONSENT_KEPT_DAYS", 365, 31)),
            **_sms_settings(reader, production),
        )
        if settings.smtp_url:
            parse_smtp_url(settings.smtp_url)  # its shape, checked at start-up
            if production and not settings.shop_address:
                raise ConfigError("SHOP_ADDRESS is not set (every e-mail names the sender)")
        _check_help_url(settings)
        if (
            production
            and settings.database_url.startswith("sqlite")
            and not reader.get("ALLOW_SQLITE_IN_PRODUCTION")
        ):
            raise ConfigError("DATABASE_URL is not set (production needs PostgreSQL)")
        if production:
            check_production_secrets(settings)
        _check_timings(settings)
        return settings


def check_production_secrets(settings: Settings) -> None:
    """Refuse published secrets, and short keys of our own; the error names the variable."""
    secrets = {
        "LINE_CHANNEL_SECRET": settings.line_channel_secret,
        "LINE_CHANNEL_ACCESS_TOKEN": settings.line_channel_access_token,
        "SHOP_API_SECRET": settings.shop_api_secret,
        "SECRET_KEY": settings.secret_key,
    }
    if settings.metrics_token is not None:
        secrets["METRICS_TOKEN"] = settings.metrics_token
    if settings.sms_enabled:
        secrets["SMS_AUTH_TOKEN"] = settings.sms_auth_token
    for name, value in secrets.items():
        if value in PUBLISHED_SECRETS or value.lower() in PUBLISHED_SECRETS:
            raise ConfigError(
                f"{name} is a development or test value published in the repository; "
                "set a secret of your own"
            )
    for name in ("SHOP_API_SECRET", "SECRET_KEY", "METRICS_TOKEN"):
        if name not in secrets:
            continue
        length = len(secrets[name].encode("utf-8"))
        if length < MIN_SECRET_BYTES:
            raise ConfigError(
                f"{name} is {length} bytes long; use at least {MIN_SECRET_BYTES} random bytes "
                "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
            )


_SMS_SID = re.compile(r"^(AC|MG)[0-9a-f]{32}$")
# A sender: an E.164 number, or an alphanumeric sender ID (1-11 letters, digits, spaces).
_SMS_SENDER = re.compile(r"^(\+[1-9][0-9]{7,14}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11})$")


def _sms_settings(reader: _Reader, production: bool) -> dict[str, object]:
    """SMS_*: the provider account; dev and tests default to the local emulator's."""
    account = reader.get("SMS_ACCOUNT_SID")
    if not account and production:
        return {"sms_enabled": False, "sms_account_sid": "", "sms_auth_token": "", "sms_from": None}
    account = account or DEV_SMS["SMS_ACCOUNT_SID"]
    if not _SMS_SID.match(account) or not account.startswith("AC"):
        raise ConfigError("SMS_ACCOUNT_SID must be 'AC' followed by 32 lowercase hex digits")
    token = reader.get("SMS_AUTH_TOKEN") or ("" if production else DEV_SMS["SMS_AUTH_TOKEN"])
    if not token:
        raise ConfigError("SMS_AUTH_TOKEN is not set")
    service = reader.get("SMS_MESSAGING_SERVICE_SID") or None
    if service is not None and not (_SMS_SID.match(service) and service.startswith("MG")):
        raise ConfigError("SMS_MESSAGING_SERVICE_SID must be 'MG' followed by 32 hex digits")
    sender = reader.get("SMS_FROM") or (None if production or service else DEV_SMS["SMS_FROM"])
    if sender is not None and not _SMS_SENDER.match(sender):
        raise ConfigError(
            "SMS_FROM must be an E.164 number (+815011112222) or an alphanumeric sender ID"
        )
    if sender is None and service is None:
        raise ConfigError("SMS_FROM or SMS_MESSAGING_SERVICE_SID is not set")
    return {
        "sms_enabled": True,
        "sms_account_sid": account,
        "sms_auth_token": token,
        "sms_from": sender,
        "sms_messaging_service_sid": service,
        "sms_api_base_url": reader.url(
            "SMS_API_BASE_URL", REAL_SMS_API if production else f"http://127.0.0.1:{DEV_SMS_PORT}"
        ),
        "sms_connect_timeout": reader.number("SMS_CONNECT_TIMEOUT", 3.0),
        "sms_read_timeout": reader.number("SMS_READ_TIMEOUT", 10.0),
    }


def batch_bound_seconds(settings: Settings) -> float:
    """The longest a send batch can take: its push window, a push started at its very end
    (connect + read timeout), and a margin for the database work around them."""
    return (
        settings.delivery_batch_seconds
        + settings.line_connect_timeout
        + settings.line_read_timeout
        + 5
    )


def _check_timings(settings: Settings) -> None:
    """Timings that only work together: refuse to start rather than misbehave later."""
    bound = batch_bound_seconds(settings)
    if settings.delivery_lease_seconds < bound:
        # A live batch would be claimed again while it runs (harmless thanks to the retry
        # key, but wasted pushes and 409s).
        raise ConfigError(
            f"DELIVERY_LEASE_SECONDS ({settings.delivery_lease_seconds}) must be at least "
            f"DELIVERY_BATCH_SECONDS + LINE_CONNECT_TIMEOUT + LINE_READ_TIMEOUT + 5 ({bound:g})"
        )
    if settings.health_max_dispatch_age_seconds < 2 * settings.dispatch_interval_seconds:
        raise ConfigError(
            "HEALTH_MAX_DISPATCH_AGE_SECONDS must be at least twice DISPATCH_INTERVAL_SECONDS"
        )


class _Reader:
    """Typed access to environment variables with errors that name the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str, default: str = "") -> str:
        return self._environ.get(name, "").strip() or default

    def url(self, name: str, default: str | None) -> str:
        value = self.get(name) or default
        if not value:
            raise ConfigError(f"{name} is not set")
        if not re.match(r"^https?://[^\s/]+", value):
            raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    def icon_url(self, name: str) -> str | None:
        """An optional image URL LINE will fetch: https only, at most 2000 characters."""
        value = self.get(name)
        if not value:
            return None
        if not re.match(r"^https://[^\s/]+\S*$", value) or len(value) > 2000:
            raise ConfigError(f"{name} must be an https URL of at most 2000 characters")
        return value

    def number(self, name: str, default: float, minimum: float = 0.001) -> float:
        raw = self.get(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.get(name).lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def path(self, name: str) -> Path | None:
        raw = self.get(name)
        if not raw:
            return None
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"{name} points at {raw!r}, which does not exist")
        return path


def parse_link_hosts(text: str) -> tuple[str, ...]:
    """LINK_HOSTS: comma-separated host names, `*.example.jp` for every subdomain."""
    hosts = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host = normalise_host(item)
        if host is None:
            raise ConfigError(
                f"LINK_HOSTS must list host names such as shop.example.jp or *.example.jp, "
                f"got {item!r}"
            )
        hosts.append(host)
    return tuple(hosts)


def _check_help_url(settings: Settings) -> None:
    """The help link goes through the tracking redirect, which opens only allowed hosts."""
    url = settings.help_url
    if not host_allowed(url, settings.allowed_link_hosts):
        raise ConfigError(
            f"SHOP_HELP_URL must be on one of the LINK_HOSTS "
            f"({', '.join(sorted(settings.allowed_link_hosts))}), got {url!r}"
        )


def normalize_database_url(url: str) -> str:
    """Accept the usual postgres:// and postgresql:// forms and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("postgresql+", "sqlite:")):
        return url
    raise ConfigError(
        f"DATABASE_URL must be a postgres:// or sqlite:// URL, got {url.split(':')[0]!r}"
    )


def _redis_url(value: str, production: bool) -> str | None:
    if not value:
        if production:
            raise ConfigError("REDIS_URL is not set")
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"REDIS_URL must start with redis://, rediss:// or unix://, got {value!r}"
        )
    return value


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"SHOP_TIMEZONE is not a known time zone: {name!r}") from None
    return name


def _clock_time(text: str, name: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(f"{name} has a bad time {text!r} (use HH:MM)")
    return time(int(match[1]), int(match[2]))


def parse_quiet_hours(text: str) -> QuietHours | None:
    """`21:00-09:00` → QuietHours; an empty value disables quiet hours."""
    if not text.strip():
        return None
    start, sep, end = text.partition("-")
    if not sep:
        raise ConfigError(f"QUIET_HOURS must look like 21:00-09:00, got {text!r}")
    quiet = QuietHours(_clock_time(start, "QUIET_HOURS"), _clock_time(end, "QUIET_HOURS"))
    if quiet.start == quiet.end:
        raise ConfigError("QUIET_HOURS start and end are the same")
    return quiet


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_business_hours(text: str) -> BusinessHours:
    """`mon-fri 10:00-18:00` (or `mon,wed,sat 09:00-17:00`) → BusinessHours."""
    days_part, _, hours_part = text.strip().lower().partition(" ")
    days: set[int] = set()
    for chunk in days_part.split(","):
        first, _, last = chunk.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ConfigError(f"BUSINESS_HOURS has unknown days {chunk!r} (use mon-fri)")
        a, b = _DAYS.index(first), _DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    start, sep, end = hours_part.partition("-")
    if not sep:
        raise ConfigError(f"BUSINESS_HOURS must look like 'mon-fri 10:00-18:00', got {text!r}")
    hours = BusinessHours(
        frozenset(days), _clock_time(start, "BUSINESS_HOURS"), _clock_time(end, "BUSINESS_HOURS")
    )
    if hours.start >= hours.end:
        raise ConfigError("BUSINESS_HOURS must end after it starts")
    return hours


def parse_closed_days(text: str) -> dict[str, object]:
    """`12-29..01-03, 08-13..08-15, 2026-05-07` → yearly ranges and one-off dates.

    `MM-DD` or `MM-DD..MM-DD` repeat every year (a range may wrap past 12-31); `YYYY-MM-DD`
    or `YYYY-MM-DD..YYYY-MM-DD` are single dates.
    """
    yearly: list[tuple[MonthDay, MonthDay]] = []
    dates: set[date] = set()
    for item in filter(None, (part.strip() for part in text.split(","))):
        first, sep, last = item.partition("..")
        if len(first) == 10:
            start, end = _closed_date(first, item), _closed_date(last if sep else first, item)
            if end < start or (end - start).days > 366:
                raise ConfigError(f"CLOSED_DAYS has a backwards or over-long range {item!r}")
            dates.update(date.fromordinal(n) for n in range(start.toordinal(), end.toordinal() + 1))
        else:
            yearly.append((_month_day(first, item), _month_day(last if sep else first, item)))
    if yearly and all(
        ClosedDays(yearly=tuple(yearly)).yearly_contains(date.fromordinal(n))
        for n in range(date(2028, 1, 1).toordinal(), date(2029, 1, 1).toordinal())
    ):
        raise ConfigError("CLOSED_DAYS closes every day of the year")
    return {"yearly": tuple(yearly), "dates": frozenset(dates)}


def _closed_date(text: str, item: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"CLOSED_DAYS has a bad date in {item!r} (use YYYY-MM-DD or MM-DD)"
        ) from None


def _month_day(text: str, item: str) -> MonthDay:
    match = re.fullmatch(r"(\d{2})-(\d{2})", text.strip())
    try:
        # Checked against a leap year, so that 02-29 is allowed.
        day = date(2028, int(match[1]), int(match[2])) if match else None
    except ValueError:
        day = None
    if day is None:
        raise ConfigError(f"CLOSED_DAYS has a bad day in {item!r} (use MM-DD or YYYY-MM-DD)")
    return (day.month, day.day)


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how e-mail is handed over: SMTP_URL taken apart."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: str  # "ssl" (smtps://, implicit TLS), "starttls" or "none"


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:587?starttls=1` or `smtps://user:pass@host:465`; ConfigError
    names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("SMTP_URL must look like smtp://user:pass@host:587?starttls=1")
    query = parse_qs(parts.query)
    starttls = (query.get("starttls") or ["0"])[0] in ("1", "true", "yes")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587 if starttls else 25)
    except ValueError as exc:
        raise ConfigError(f"SMTP_URL has a bad port: {exc}") from exc
    if parts.scheme == "smtps" and starttls:
        raise ConfigError("SMTP_URL: smtps:// is TLS already; starttls=1 is for smtp://")
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls="ssl" if parts.scheme == "smtps" else "starttls" if starttls else "none",
    )
