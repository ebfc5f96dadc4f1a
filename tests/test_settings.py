"""Settings: read once from an environment into typed parts; a malformed value stops the app at start."""
from __future__ import annotations

import pytest

from portal.settings import Settings, SettingsError

pytestmark = pytest.mark.no_db

BASE = {"DATABASE_URL": "postgresql://u@db/payfirst", "SECRET_KEY": "s"}


def test_production_needs_a_secret_key():
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({"DATABASE_URL": "postgresql://u@db/payfirst"})


def test_defaults_are_those_the_readme_documents():
    s = Settings.from_env(BASE)
    assert s.core.database_url == "postgresql+psycopg://u@db/payfirst"
    assert (s.core.tz.key, s.core.public_base_url, s.core.redis_url) == ("Asia/Shanghai", "http://127.0.0.1:5000", None)
    assert (s.payments.min_fen, s.payments.max_fen, s.payments.order_ttl_minutes) == (100, 5_000_000, 15)
    assert s.payments.sandbox is None and s.sms.backends == ("log",) and s.polling.request_timeout == 1.0
    assert s.polling.readings_retention_months == 0  # every reading kept
    assert s.alipay.missing() == ["ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY_FILE", "ALIPAY_PUBLIC_KEY_FILE"]
    assert s.wechat.v2_missing() == ["WECHAT_APP_ID", "WECHAT_MCH_ID", "WECHAT_API_KEY"]


def test_every_part_reads_its_own_variables():
    s = Settings.from_env({**BASE, "TZ_BUSINESS": "Asia/Urumqi", "PAY_MAX_FEN": "100000", "PAYFIRST_SANDBOX": "0",
                           "SMS_BACKEND": "aliyun, modem", "ALIYUN_SMS_TEMPLATE_LOW_BALANCE": "SMS_1",
                           "WECHAT_TEMPLATE_SUPPLY_OFF": "tmpl-9", "SMS_MODEM_DEVICE": "/dev/ttyUSB1",
                           "POLL_REQUEST_TIMEOUT": "0.5", "ALIPAY_APP_ID": "2021", "PUBLIC_BASE_URL": "https://p.cn/",
                           "READINGS_RETENTION_MONTHS": "24"})
    assert s.core.tz.key == "Asia/Urumqi" and s.core.public_base_url == "https://p.cn"
    assert (s.payments.max_fen, s.payments.sandbox) == (100_000, False)
    assert s.sms.backends == ("aliyun", "modem") and s.sms.aliyun_templates == (("low_balance", "SMS_1"),)
    assert s.wechat.templates == (("supply_off", "tmpl-9"),) and s.sms.modem_device == "/dev/ttyUSB1"
    assert s.polling.request_timeout == 0.5 and s.alipay.any_set and s.polling.readings_retention_months == 24


@pytest.mark.parametrize("name, value", [("PAY_MIN_FEN", "1.5"), ("TZ_BUSINESS", "Mars/Olympus"),
                                         ("SMS_BACKEND", "pigeon"), ("POLL_REQUEST_TIMEOUT", "0"),
                                         ("POLL_CONCURRENCY", "many"), ("READINGS_RETENTION_MONTHS", "-1"),
                                         ("READINGS_RETENTION_MONTHS", "a year"), ("POLL_INTERVAL_SECONDS", "1"),
                                         ("POLL_INTERVAL_SECONDS", "1.5")])
def test_a_malformed_setting_is_a_startup_error_that_names_it(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**BASE, name: value})


def test_secrets_do_not_show_in_a_printed_settings_object():
    s = Settings.from_env({**BASE, "ALIYUN_SMS_ACCESS_KEY_SECRET": "hush", "SMS_MODEM_PIN": "1234",
                           "SECRET_KEY": "sesame", "WECHAT_API_KEY": "k" * 32, "WECHAT_APIV3_KEY": "v" * 32,
                           "WECHAT_APP_SECRET": "appsecret"})
    shown = repr(s)
    assert not any(secret in shown for secret in ("hush", "1234", "sesame", "k" * 32, "v" * 32, "appsecret"))


def test_quiet_hours_are_the_nights_by_default_and_may_be_moved_or_turned_off():
    from datetime import time

    assert Settings.from_env(BASE).notify.quiet_hours == (time(22), time(8))
    assert Settings.from_env(BASE).notify.lease_seconds == 120
    moved = Settings.from_env({**BASE, "NOTIFY_QUIET_HOURS": "21:30 - 7:00", "NOTIFY_LEASE_SECONDS": "60"}).notify
    assert (moved.quiet_hours, moved.lease_seconds) == ((time(21, 30), time(7)), 60)
    assert Settings.from_env({**BASE, "NOTIFY_QUIET_HOURS": "off"}).notify.quiet_hours is None


@pytest.mark.parametrize("name, value", [("NOTIFY_QUIET_HOURS", "22-8"), ("NOTIFY_QUIET_HOURS", "25:00-08:00"),
                                         ("NOTIFY_LEASE_SECONDS", "5"), ("NOTIFY_LEASE_SECONDS", "900")])
def test_malformed_notify_settings_are_named(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**BASE, name: value})


def test_every_variable_the_settings_read_is_in_env_example():
    """`.env.example` is where an operator learns the variables: each one read here is there, set or commented."""
    import re
    from collections.abc import Mapping
    from pathlib import Path

    class Asked(Mapping):
        def __init__(self, values):
            self.values, self.names = values, set()

        def __getitem__(self, name):
            self.names.add(name)
            return self.values[name]

        def get(self, name, default=None):
            self.names.add(name)
            return self.values.get(name, default)

        def __iter__(self):
            return iter(self.values)

        def __len__(self):
            return len(self.values)

    environ = Asked(BASE)
    Settings.from_env(environ)
    example = Path(__file__).resolve().parent.parent / ".env.example"
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example.read_text(), flags=re.M))
    assert len(environ.names) > 40
    assert sorted(environ.names - listed) == []
