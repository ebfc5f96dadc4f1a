"""Settings: read from the environment once, in `create_app`, into typed parts.

`Settings.from_env()` is the only place PayFirst reads its environment (SPEC §4 names every variable;
`.env.example` lists them). The app keeps the result as `app.config["SETTINGS"]`; code reaches it through
`current()`, the business time zone through `business_tz()` and public addresses through `public_url()`.
Nothing reads a setting at import time, so a test or a second app may hold other settings.
"""
from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_app_context

from portal import paths

INSTANCE_DIR = paths.INSTANCE
#: the business time zone when none is configured (and outside an app, e.g. in the simulator)
DEFAULT_TZ = "Asia/Shanghai"
#: where the app is reached when PUBLIC_BASE_URL is not set: the embedded demo on its default port
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:5000"


class SettingsError(RuntimeError):
    """A setting that is malformed or missing where it is required: the app does not start."""


class _Env:
    """Typed readers over one environment mapping."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def str(self, name: str, default: str | None = None) -> str | None:
        """A stripped value, or the default when unset or empty."""
        value = (self.environ.get(name) or "").strip()
        return value or default

    def int(self, name: str, default: int) -> int:
        """An integer value; a malformed one is a startup error."""
        raw = self.str(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None

    def float(self, name: str, default: float) -> float:
        """A decimal number; a malformed one is a startup error."""
        raw = self.str(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from None

    def by_prefix(self, prefix: str) -> tuple[tuple[str, str], ...]:
        """(suffix in lower case, value) of every set variable named PREFIX<SUFFIX>, sorted."""
        return tuple(sorted((name.removeprefix(prefix).lower(), value.strip()) for name, value in self.environ.items()
                            if name.startswith(prefix) and len(name) > len(prefix) and value.strip()))

    def flag(self, name: str) -> bool | None:
        """1/true/yes/on, 0/false/no/off, or None when unset."""
        raw = self.str(name)
        return None if raw is None else raw.lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class CoreSettings:
    """Where the data lives, how sessions are signed, where the app is reached, which clock it keeps."""

    database_url: str
    redis_url: str | None
    secret_key: str = field(repr=False)
    public_base_url: str = DEFAULT_PUBLIC_BASE_URL
    tz_business: str = DEFAULT_TZ

    @property
    def tz(self) -> ZoneInfo:
        """The business time zone (days, months, time-of-use periods)."""
        return ZoneInfo(self.tz_business)

    @property
    def embedded(self) -> bool:
        """Whether this is the embedded SQLite demo."""
        return self.database_url.startswith("sqlite")


@dataclass(frozen=True)
class PaymentSettings:
    """Limits and timings of payment orders (all amounts in fen)."""

    min_fen: int = 100
    max_fen: int = 5_000_000
    #: an unpaid order is closed after this many minutes
    order_ttl_minutes: int = 15
    #: an order still created this many minutes after it was made is queried at its platform
    query_after_minutes: int = 3
    #: at most this many orders per recovery sweep
    sweep_batch: int = 200
    #: a paid order not credited after this long lost its credit job and is queued again
    credit_stuck_seconds: int = 60
    #: PAYFIRST_SANDBOX: True/False when set, None to decide by the installation (see providers.sandbox)
    sandbox: bool | None = None


@dataclass(frozen=True)
class AlipaySettings:
    """One Alipay merchant (RSA2); key files are read by the provider."""

    REQUIRED = ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY_FILE", "ALIPAY_PUBLIC_KEY_FILE")
    PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"

    app_id: str | None = None
    app_private_key_file: str | None = None
    public_key_file: str | None = None
    seller_id: str | None = None
    gateway: str = PRODUCTION_GATEWAY

    def missing(self) -> list[str]:
        """The ALIPAY_* variables still unset (empty when the channel is configured)."""
        values = (self.app_id, self.app_private_key_file, self.public_key_file)
        return [name for name, value in zip(self.REQUIRED, values) if value is None]

    @property
    def any_set(self) -> bool:
        """Whether any of the required variables is set (then the demo sandbox stays off)."""
        return len(self.missing()) < len(self.REQUIRED)


@dataclass(frozen=True)
class WeChatSettings:
    """The official account (OAuth) and WeChat Pay (API v3 preferred, API v2 as the fallback)."""

    V2_REQUIRED = ("WECHAT_APP_ID", "WECHAT_MCH_ID", "WECHAT_API_KEY")
    V3_REQUIRED = ("WECHAT_APP_ID", "WECHAT_MCH_ID", "WECHAT_APIV3_KEY", "WECHAT_MCH_PRIVATE_KEY_FILE",
                   "WECHAT_MCH_CERT_SERIAL", "WECHAT_PAY_PUBLIC_KEY_FILE", "WECHAT_PAY_PUBLIC_KEY_ID")
    PRODUCTION_PAY_API = "https://api.mch.weixin.qq.com"

    app_id: str | None = None
    app_secret: str | None = field(default=None, repr=False)
    mch_id: str | None = None
    api_key: str | None = field(default=None, repr=False)
    apiv3_key: str | None = field(default=None, repr=False)
    mch_private_key_file: str | None = None
    mch_cert_serial: str | None = None
    mch_cert_file: str | None = None
    pay_public_key_file: str | None = None
    pay_public_key_id: str | None = None
    pay_api_base: str = PRODUCTION_PAY_API
    #: WECHAT_API_BASE: the official account's API (OAuth code exchange, access token, template messages);
    #: None: https://api.weixin.qq.com/ (a stand-in's address in tests)
    api_base: str | None = None
    #: WECHAT_OPEN_BASE: the OAuth authorize page; None: https://open.weixin.qq.com/connect/
    open_base: str | None = None
    #: template message ids by event (WECHAT_TEMPLATE_<EVENT>), event names lower-case
    templates: tuple[tuple[str, str], ...] = ()

    def _value(self, variable: str) -> str | None:
        return getattr(self, variable.removeprefix("WECHAT_").lower())

    def v2_missing(self) -> list[str]:
        """The API v2 variables still unset (an empty list: API v2 is usable)."""
        return [name for name in self.V2_REQUIRED if not self._value(name)]

    def v3_missing(self) -> list[str]:
        """The API v3 variables still unset or unusable (an empty list: API v3 is usable)."""
        absent = [name for name in self.V3_REQUIRED if not self._value(name)]
        if self.apiv3_key and len(self.apiv3_key.encode()) != 32:
            absent.append("WECHAT_APIV3_KEY (it must be 32 characters)")
        for name in ("WECHAT_MCH_PRIVATE_KEY_FILE", "WECHAT_PAY_PUBLIC_KEY_FILE"):
            path = self._value(name)
            if path and not os.path.isfile(path):
                absent.append(f"{name} (no file at {path})")
        return absent

    @property
    def oauth_configured(self) -> bool:
        """Whether tenants can log in through the official account."""
        return bool(self.app_id and self.app_secret)


@dataclass(frozen=True)
class SmsSettings:
    """How texts leave: the backends in the order they are tried (`log`, `aliyun`, `modem`) and their settings."""

    BACKENDS = ("log", "aliyun", "modem")

    backends: tuple[str, ...] = ("log",)
    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: str | None = field(default=None, repr=False)
    aliyun_sign_name: str | None = None
    #: Aliyun template codes by event (ALIYUN_SMS_TEMPLATE_<EVENT>), event names lower-case
    aliyun_templates: tuple[tuple[str, str], ...] = ()
    aliyun_endpoint: str | None = None
    modem_device: str | None = None
    modem_baud: int = 115_200
    modem_pin: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class NotifySettings:
    """When tenants are not disturbed, and when a message a sender was holding is taken for lost."""

    #: NOTIFY_QUIET_HOURS ("22:00-08:00", business time; "off": none): a shop's messages that are not urgent wait
    #: for their end (a shop's own preference overrides them)
    quiet_hours: tuple[time, time] | None = (time(22), time(8))
    #: NOTIFY_LEASE_SECONDS: a delivery left `sending` longer than this was held by a sender that died
    lease_seconds: int = 120


@dataclass(frozen=True)
class PollingSettings:
    """How the poller talks to the gateways."""

    #: seconds to wait for one Modbus answer; a gateway that is down costs one of these per cycle
    request_timeout: float = 1.0
    #: gateways polled at once by one cycle (their buses run in parallel)
    concurrency: int = 200
    #: READINGS_RETENTION_MONTHS: 15-minute readings are kept this many whole months back, then dropped by
    #: the month once their days are rolled up (PostgreSQL; 0: kept for ever)
    readings_retention_months: int = 0
    #: POLL_INTERVAL_SECONDS: how often the cron queues a poll job for every gateway (one is never queued twice
    #: while it waits). 60: on the minute. Shorter keeps the queue fed, so the workers poll round after round and
    #: no gateway waits for the next minute once its poll is done (docs/deploy.md, "How many polling workers")
    interval: int = 60


@dataclass(frozen=True)
class AuthSettings:
    """Who may sign in how, for how long, and where the client's address comes from."""

    #: account code + phone as a tenant's sign-in: the embedded demo's only (TENANT_DEMO_LOGIN overrides)
    tenant_demo_login: bool = False
    #: a staff session ends after this many minutes without a request
    staff_idle_minutes: int = 30
    #: and this many hours after its login, however busy
    staff_session_hours: int = 12
    #: a new API token expires after this many days (0: never)
    api_token_days: int = 365
    #: reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none, use the peer)
    proxy_hops: int = 0


@dataclass(frozen=True)
class ImportSettings:
    """What a spreadsheet handed to the site import may weigh before it is refused unread (SPEC §4)."""

    #: IMPORT_MAX_FILE_MB: the file itself
    max_file_bytes: int = 20 * 1024 * 1024
    #: IMPORT_MAX_ROWS: rows of all sheets together (a mall has thousands; 200,000 is a city's worth)
    max_rows: int = 200_000
    #: IMPORT_MAX_XML_MB: the workbook's parts once uncompressed (100,000 rows are about 90 MB)
    max_xml_bytes: int = 256 * 1024 * 1024
    #: IMPORT_MAX_RATIO: how much one large part may expand (real sheets: 10-20 times; a zip bomb: thousands)
    max_ratio: int = 100
    #: IMPORT_MAX_SHARED_STRINGS: distinct texts of the workbook (openpyxl keeps every one in memory)
    max_shared_strings: int = 1_000_000


@dataclass(frozen=True)
class MetricsSettings:
    """Who may read `/metrics` (portal/metrics/web.py), and where the web processes share their counters."""

    #: METRICS_TOKEN: a scraper sending `Authorization: Bearer <token>` may read it
    token: str | None = field(default=None, repr=False)
    #: METRICS_ALLOW: client addresses or networks (CIDR, comma-separated) that may read it without the token
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: PROMETHEUS_MULTIPROC_DIR: several gunicorn workers write their counters to files here (prometheus_client
    #: reads this variable itself too); unset: one process, counters in memory
    multiproc_dir: str | None = None

    @property
    def on(self) -> bool:
        """Whether /metrics answers at all (neither a token nor an allow-list: it is not there)."""
        return bool(self.token or self.allow)


@dataclass(frozen=True)
class LogSettings:
    """How every process (web, worker, cron) writes its log (portal/logs.py)."""

    FORMATS = ("plain", "json")

    #: LOG_FORMAT: plain text for people (the demo), or one JSON object a line for a log shipper
    format: str = "plain"
    #: LOG_LEVEL: DEBUG, INFO, WARNING, ERROR
    level: str = "INFO"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, as SPEC §4 names it, in typed parts."""

    core: CoreSettings
    payments: PaymentSettings = PaymentSettings()
    alipay: AlipaySettings = AlipaySettings()
    wechat: WeChatSettings = WeChatSettings()
    sms: SmsSettings = SmsSettings()
    notify: NotifySettings = NotifySettings()
    polling: PollingSettings = PollingSettings()
    auth: AuthSettings = AuthSettings()
    imports: ImportSettings = ImportSettings()
    metrics: MetricsSettings = MetricsSettings()
    logs: LogSettings = LogSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from the environment (the process's by default)."""
        env = _Env(os.environ if environ is None else environ)
        core = _core(env)
        return cls(core=core, payments=_payments(env), alipay=_alipay(env), wechat=_wechat(env),
                   sms=_sms(env), notify=_notify(env), polling=_polling(env), auth=_auth(env, core),
                   imports=_imports(env), metrics=_metrics(env), logs=_logs(env))


def _core(env: _Env) -> CoreSettings:
    database_url = env.str("DATABASE_URL")
    if database_url is None:
        INSTANCE_DIR.mkdir(exist_ok=True)
        database_url = f"sqlite:///{INSTANCE_DIR / 'payfirst.db'}"
    secret = env.str("SECRET_KEY")
    if secret is None:
        if not database_url.startswith("sqlite"):
            # Production (PostgreSQL) never runs on a made-up secret.
            raise SettingsError("SECRET_KEY must be set when DATABASE_URL is not the embedded SQLite demo")
        secret = _demo_secret()
    tz = env.str("TZ_BUSINESS", DEFAULT_TZ)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"TZ_BUSINESS {tz!r} is not a time zone (e.g. Asia/Shanghai)") from None
    return CoreSettings(database_url=normalise_db_url(database_url), redis_url=env.str("REDIS_URL"),
                        secret_key=secret, public_base_url=env.str("PUBLIC_BASE_URL", DEFAULT_PUBLIC_BASE_URL
                                                                    ).rstrip("/"), tz_business=tz)


def _payments(env: _Env) -> PaymentSettings:
    d = PaymentSettings()
    return PaymentSettings(
        min_fen=env.int("PAY_MIN_FEN", d.min_fen), max_fen=env.int("PAY_MAX_FEN", d.max_fen),
        order_ttl_minutes=env.int("PAY_ORDER_TTL_MINUTES", d.order_ttl_minutes),
        query_after_minutes=env.int("PAY_QUERY_AFTER_MINUTES", d.query_after_minutes),
        sweep_batch=env.int("PAY_SWEEP_BATCH", d.sweep_batch),
        credit_stuck_seconds=env.int("PAY_CREDIT_STUCK_SECONDS", d.credit_stuck_seconds),
        sandbox=env.flag("PAYFIRST_SANDBOX"))


def _alipay(env: _Env) -> AlipaySettings:
    return AlipaySettings(app_id=env.str("ALIPAY_APP_ID"), app_private_key_file=env.str("ALIPAY_APP_PRIVATE_KEY_FILE"),
                          public_key_file=env.str("ALIPAY_PUBLIC_KEY_FILE"), seller_id=env.str("ALIPAY_SELLER_ID"),
                          gateway=env.str("ALIPAY_GATEWAY", AlipaySettings.PRODUCTION_GATEWAY))


def _wechat(env: _Env) -> WeChatSettings:
    names = ("app_id", "app_secret", "mch_id", "api_key", "apiv3_key", "mch_private_key_file", "mch_cert_serial",
             "mch_cert_file", "pay_public_key_file", "pay_public_key_id", "api_base", "open_base")
    values = {name: env.str(f"WECHAT_{name.upper()}") for name in names}
    base = env.str("WECHAT_PAY_API_BASE", WeChatSettings.PRODUCTION_PAY_API).rstrip("/")
    return WeChatSettings(pay_api_base=base, templates=env.by_prefix("WECHAT_TEMPLATE_"), **values)


def _sms(env: _Env) -> SmsSettings:
    backends = tuple(b.strip() for b in env.str("SMS_BACKEND", "log").split(",") if b.strip())
    unknown = [b for b in backends if b not in SmsSettings.BACKENDS]
    if unknown or not backends:
        raise SettingsError(f"SMS_BACKEND lists log, aliyun or modem (comma-separated), got {unknown or backends}")
    return SmsSettings(backends=backends, aliyun_access_key_id=env.str("ALIYUN_SMS_ACCESS_KEY_ID"),
                       aliyun_access_key_secret=env.str("ALIYUN_SMS_ACCESS_KEY_SECRET"),
                       aliyun_sign_name=env.str("ALIYUN_SMS_SIGN_NAME"),
                       aliyun_templates=env.by_prefix("ALIYUN_SMS_TEMPLATE_"),
                       aliyun_endpoint=env.str("ALIYUN_SMS_ENDPOINT"), modem_device=env.str("SMS_MODEM_DEVICE"),
                       modem_baud=env.int("SMS_MODEM_BAUD", 115_200), modem_pin=env.str("SMS_MODEM_PIN"))


_HOURS = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)")


def _notify(env: _Env) -> NotifySettings:
    d = NotifySettings()
    raw = env.str("NOTIFY_QUIET_HOURS")
    quiet = d.quiet_hours
    if raw is not None and raw.lower() in ("off", "none"):
        quiet = None
    elif raw is not None:
        found = _HOURS.fullmatch(raw.replace(" ", ""))
        if found is None:
            raise SettingsError(f"NOTIFY_QUIET_HOURS is HH:MM-HH:MM in business time (or off), got {raw!r}")
        h1, m1, h2, m2 = map(int, found.groups())
        quiet = (time(h1, m1), time(h2, m2)) if (h1, m1) != (h2, m2) else None
    lease = env.int("NOTIFY_LEASE_SECONDS", d.lease_seconds)
    if not 30 <= lease <= 540:
        # WeChat drops a repeat of a client_msg_id for ten minutes: a held message is resent within them
        raise SettingsError("NOTIFY_LEASE_SECONDS must be between 30 and 540 (WeChat's ten minutes, with margin)")
    return NotifySettings(quiet_hours=quiet, lease_seconds=lease)


def _polling(env: _Env) -> PollingSettings:
    d = PollingSettings()
    timeout = env.float("POLL_REQUEST_TIMEOUT", d.request_timeout)
    concurrency = env.int("POLL_CONCURRENCY", d.concurrency)
    if timeout <= 0 or concurrency < 1:
        raise SettingsError("POLL_REQUEST_TIMEOUT must be above 0 and POLL_CONCURRENCY at least 1")
    retention = env.int("READINGS_RETENTION_MONTHS", d.readings_retention_months)
    if not 0 <= retention <= 1200:
        raise SettingsError("READINGS_RETENTION_MONTHS must be 0 (keep every reading) or a number of months")
    interval = env.int("POLL_INTERVAL_SECONDS", d.interval)
    if not 5 <= interval <= 3600:
        raise SettingsError("POLL_INTERVAL_SECONDS must be between 5 and 3600")
    return PollingSettings(request_timeout=timeout, concurrency=concurrency, readings_retention_months=retention,
                           interval=interval)


def _auth(env: _Env, core: CoreSettings) -> AuthSettings:
    d = AuthSettings()
    demo_login = env.flag("TENANT_DEMO_LOGIN")
    auth = AuthSettings(
        tenant_demo_login=core.embedded if demo_login is None else demo_login,
        staff_idle_minutes=env.int("STAFF_IDLE_MINUTES", d.staff_idle_minutes),
        staff_session_hours=env.int("STAFF_SESSION_HOURS", d.staff_session_hours),
        api_token_days=env.int("API_TOKEN_DAYS", d.api_token_days),
        proxy_hops=env.int("TRUSTED_PROXY_HOPS", d.proxy_hops))
    if auth.staff_idle_minutes < 1 or auth.staff_session_hours < 1:
        raise SettingsError("STAFF_IDLE_MINUTES and STAFF_SESSION_HOURS must be at least 1")
    if auth.api_token_days < 0 or not 0 <= auth.proxy_hops <= 5:
        raise SettingsError("API_TOKEN_DAYS must be 0 or more, TRUSTED_PROXY_HOPS between 0 and 5")
    return auth


def _imports(env: _Env) -> ImportSettings:
    d, mb = ImportSettings(), 1024 * 1024
    limits = ImportSettings(
        max_file_bytes=env.int("IMPORT_MAX_FILE_MB", d.max_file_bytes // mb) * mb,
        max_rows=env.int("IMPORT_MAX_ROWS", d.max_rows),
        max_xml_bytes=env.int("IMPORT_MAX_XML_MB", d.max_xml_bytes // mb) * mb,
        max_ratio=env.int("IMPORT_MAX_RATIO", d.max_ratio),
        max_shared_strings=env.int("IMPORT_MAX_SHARED_STRINGS", d.max_shared_strings))
    if min(limits.max_file_bytes, limits.max_rows, limits.max_xml_bytes, limits.max_ratio,
           limits.max_shared_strings) < 1:
        raise SettingsError("IMPORT_MAX_FILE_MB, IMPORT_MAX_ROWS, IMPORT_MAX_XML_MB, IMPORT_MAX_RATIO and "
                            "IMPORT_MAX_SHARED_STRINGS must be at least 1")
    return limits


def _metrics(env: _Env) -> MetricsSettings:
    allow = []
    for item in (env.str("METRICS_ALLOW") or "").split(","):
        if item.strip():
            try:
                allow.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise SettingsError(f"METRICS_ALLOW lists addresses or networks (10.0.0.0/8), got {item!r}") from None
    if "PROMETHEUS_MULTIPROC_DIR" in env.environ and env.str("PROMETHEUS_MULTIPROC_DIR") is None:
        # prometheus_client writes to files when the variable exists at all, here to the working directory
        raise SettingsError("PROMETHEUS_MULTIPROC_DIR is set but empty: name a directory or unset it")
    return MetricsSettings(token=env.str("METRICS_TOKEN"), allow=tuple(allow),
                           multiproc_dir=env.str("PROMETHEUS_MULTIPROC_DIR"))


def _logs(env: _Env) -> LogSettings:
    fmt = (env.str("LOG_FORMAT") or "plain").lower()
    level = (env.str("LOG_LEVEL") or "INFO").upper()
    if fmt not in LogSettings.FORMATS or level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"LOG_FORMAT is plain or json and LOG_LEVEL DEBUG, INFO, WARNING or ERROR, "
                            f"got {fmt!r} and {level!r}")
    return LogSettings(format=fmt, level=level)


def normalise_db_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _demo_secret() -> str:
    """A per-installation random secret for the embedded demo, kept under instance/."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    path = INSTANCE_DIR / "demo-secret-key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


# --- reaching the settings -----------------------------------------------------------------------------

def current() -> Settings:
    """The settings of the app in context."""
    return current_app.config["SETTINGS"]


def business_tz() -> ZoneInfo:
    """The business time zone (days, months, time-of-use): TZ_BUSINESS, Asia/Shanghai outside an app."""
    return current().core.tz if has_app_context() else ZoneInfo(DEFAULT_TZ)


def import_limits() -> ImportSettings:
    """The site import's limits: the app's, or the defaults outside an app (the simulator reading a file)."""
    return current().imports if has_app_context() else ImportSettings()


def public_url(path: str) -> str:
    """An absolute URL on the app's public address (notify, return and OAuth redirect addresses).

    The address is Flask's `PUBLIC_BASE_URL`, set from the settings by `create_app` (a test serving the app
    on a port of its own points it there).
    """
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path
