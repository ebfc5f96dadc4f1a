"""Fixtures of the notification tests: settings from an environment, and the providers' stand-ins configured."""
from __future__ import annotations

import pytest

from tests.notify.aliyun_standin import AliyunSmsStandIn
from tests.notify.wechat_mp_standin import OfficialAccountStandIn

ALIYUN_KEY_ID, ALIYUN_SECRET, ALIYUN_SIGN = "LTAI5tPayFirstSend01", "a-secret-of-the-sender-tests", "先付"
#: the stand-in's templates by code, and which event each is configured for
ALIYUN_TEMPLATES = {
    "SMS_480200001": ("low_balance_1", "商铺${shop}余额${balance}元，低于${level}元，请及时充值。"),
    "SMS_480200002": ("low_balance_2", "商铺${shop}余额${balance}元，低于${level}元，请尽快充值。"),
    "SMS_480200003": ("low_balance_3", "商铺${shop}余额仅${balance}元，请立即充值。"),
    "SMS_480200004": ("supply_off", "商铺${shop}已于${at}停电（${reason}）。"),
    "SMS_480200005": ("fee_posted", "商铺${shop}物业费${amount}元已扣。"),
}
WECHAT_APP_ID, WECHAT_SECRET = "wx5e1f0c0ffee00001", "the-official-accounts-secret"
WECHAT_TEMPLATES = {"low_balance_1": "tmpl-low-1", "supply_off": "tmpl-off", "meter_offline": "tmpl-offline"}


@pytest.fixture
def configure(monkeypatch, reload_settings):
    """configure(NAME=value, ...): set these variables and read the settings again, as a restarted app would."""

    def set_env(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reload_settings()

    return set_env


@pytest.fixture
def aliyun(configure):
    """The Aliyun SMS stand-in, and the settings pointing at it (SMS_BACKEND is the test's to choose)."""
    with AliyunSmsStandIn(ALIYUN_KEY_ID, ALIYUN_SECRET, {ALIYUN_SIGN},
                          {code: text for code, (_, text) in ALIYUN_TEMPLATES.items()}) as standin:
        configure(ALIYUN_SMS_ACCESS_KEY_ID=ALIYUN_KEY_ID, ALIYUN_SMS_ACCESS_KEY_SECRET=ALIYUN_SECRET,
                  ALIYUN_SMS_SIGN_NAME=ALIYUN_SIGN, ALIYUN_SMS_ENDPOINT=standin.endpoint,
                  **{f"ALIYUN_SMS_TEMPLATE_{event.upper()}": code for code, (event, _) in ALIYUN_TEMPLATES.items()})
        yield standin


@pytest.fixture
def wechat_mp(configure):
    """The official account's stand-in, and the settings pointing at it (templates for a few events)."""
    standin = OfficialAccountStandIn(WECHAT_APP_ID, WECHAT_SECRET).start()
    try:
        configure(WECHAT_APP_ID=WECHAT_APP_ID, WECHAT_APP_SECRET=WECHAT_SECRET, WECHAT_API_BASE=standin.url,
                  **{f"WECHAT_TEMPLATE_{event.upper()}": template for event, template in WECHAT_TEMPLATES.items()})
        yield standin
    finally:
        standin.stop()
