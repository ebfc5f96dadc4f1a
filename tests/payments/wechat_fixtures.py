"""WeChat Pay fixtures: keys made here, the stand-in platform, WECHAT_* settings pointing at it.

Test modules import the fixtures they use from here (tests/payments/conftest.py belongs to Alipay).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from portal.extensions import db
from portal.models import Channel
from portal.payments.providers.registry import start_payment
from tests.payments.standin_wechat import Merchant, WeChatStandIn

APPID = "wx5f6e7d8c9b0a1b2c"
MCHID = "1900009191"
API_KEY = "v2key0123456789abcdefghijklmnopq"
APIV3_KEY = "v3key0123456789abcdefghijklmnopq"
PLATFORM_KEY_ID = "PUB_KEY_ID_0119000091912025112800000000000001"
V2_NOTIFY = "/pay/wechat/notify"
V3_NOTIFY = "/pay/wechat/v3/notify"
WECHAT_VARS = ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_MCH_ID", "WECHAT_API_KEY", "WECHAT_APIV3_KEY",
               "WECHAT_MCH_PRIVATE_KEY_FILE", "WECHAT_MCH_CERT_SERIAL", "WECHAT_PAY_PUBLIC_KEY_FILE",
               "WECHAT_PAY_PUBLIC_KEY_ID", "WECHAT_PAY_API_BASE", "WECHAT_MCH_CERT_FILE", "WECHAT_API_BASE",
               "WECHAT_OPEN_BASE")


def _pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="session")
def wechat_keys(tmp_path_factory):
    """The merchant's API key and certificate, the platform's key pair, and a stranger's key."""
    folder = tmp_path_factory.mktemp("wechat-keys")
    merchant, platform, stranger = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                                    for _ in range(3))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PayFirst test merchant")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(merchant.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(merchant, hashes.SHA256()))
    files = {"mch_private.pem": _pem_private(merchant), "mch_cert.pem": cert.public_bytes(serialization.Encoding.PEM),
             "pay_public.pem": _pem_public(platform), "stranger_public.pem": _pem_public(stranger)}
    for file, pem in files.items():
        (folder / file).write_bytes(pem)
    return SimpleNamespace(
        merchant=merchant, platform=platform, stranger=stranger, serial=format(cert.serial_number, "X"),
        mch_private_file=folder / "mch_private.pem", mch_cert_file=folder / "mch_cert.pem",
        pay_public_file=folder / "pay_public.pem", stranger_public_file=folder / "stranger_public.pem",
    )


@pytest.fixture
def wechat_standin(wechat_keys):
    """A running WeChat Pay + OAuth stand-in that knows the merchant's certificate."""
    merchant = Merchant(appid=APPID, mchid=MCHID, api_key=API_KEY, apiv3_key=APIV3_KEY,
                        merchant_public_key=wechat_keys.merchant.public_key(), merchant_serial=wechat_keys.serial,
                        platform_private_key=wechat_keys.platform, platform_key_id=PLATFORM_KEY_ID)
    server = WeChatStandIn(merchant).start()
    yield server
    server.stop()


@pytest.fixture
def no_wechat(monkeypatch, reload_settings):
    """No WECHAT_* variable at all."""
    for name in WECHAT_VARS:
        monkeypatch.delenv(name, raising=False)
    reload_settings()


def _set_v2(monkeypatch, keys, standin) -> None:
    monkeypatch.setenv("WECHAT_APP_ID", APPID)
    monkeypatch.setenv("WECHAT_APP_SECRET", standin.m.app_secret)
    monkeypatch.setenv("WECHAT_MCH_ID", MCHID)
    monkeypatch.setenv("WECHAT_API_KEY", API_KEY)
    monkeypatch.setenv("WECHAT_MCH_CERT_FILE", str(keys.mch_cert_file))
    monkeypatch.setenv("WECHAT_MCH_PRIVATE_KEY_FILE", str(keys.mch_private_file))
    monkeypatch.setenv("WECHAT_PAY_API_BASE", standin.url)
    monkeypatch.setenv("WECHAT_API_BASE", standin.url)
    monkeypatch.setenv("WECHAT_OPEN_BASE", standin.url + "/connect/")


@pytest.fixture
def wechat_v3(no_wechat, monkeypatch, wechat_keys, wechat_standin, reload_settings):
    """Every WECHAT_* variable set (v3 complete, so the channels use API v3); returns the stand-in."""
    _set_v2(monkeypatch, wechat_keys, wechat_standin)
    monkeypatch.setenv("WECHAT_APIV3_KEY", APIV3_KEY)
    monkeypatch.setenv("WECHAT_MCH_CERT_SERIAL", wechat_keys.serial)
    monkeypatch.setenv("WECHAT_PAY_PUBLIC_KEY_FILE", str(wechat_keys.pay_public_file))
    monkeypatch.setenv("WECHAT_PAY_PUBLIC_KEY_ID", PLATFORM_KEY_ID)
    reload_settings()
    return wechat_standin


@pytest.fixture
def wechat_v2(no_wechat, monkeypatch, wechat_keys, wechat_standin, reload_settings):
    """Only the API v2 settings (and the official account's): the channels fall back to API v2."""
    _set_v2(monkeypatch, wechat_keys, wechat_standin)
    reload_settings()
    return wechat_standin


@pytest.fixture
def placed(make_order):
    """placed(amount_fen, channel="wechat_native", openid="") -> (order, channel data), the platform told."""

    def place(amount_fen: int = 1234, channel: str = "wechat_native", openid: str = ""):
        order = make_order(amount_fen, Channel(channel))
        data = start_payment(order, {"client_ip": "10.0.0.8", "openid": openid})
        db.session.commit()
        return order, data

    return place
