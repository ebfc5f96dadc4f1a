"""Payment fixtures: RSA keys made here, the Alipay stand-in gateway, orders, a live server, Redis.

Nothing reaches the internet: the app talks to `AlipayStandIn` on 127.0.0.1 through the real SDK,
and notifies are signed with the stand-in platform's key exactly as Alipay signs them.
"""
from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Alarm, Channel, LedgerEntry, PaymentNotification, PaymentOrder
from portal.payments.orders import create_order
from portal.payments.providers.alipay.api import fen_to_yuan
from tests.payments.standin_alipay import AlipayStandIn

APP_ID = "2021004100000001"
SELLER_ID = "2088000000000156"
NOTIFY_PATH = "/pay/alipay/notify"


def key_pair() -> tuple[bytes, bytes]:
    """A fresh RSA-2048 pair as (PKCS#8 private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture(scope="session")
def alipay_keys(tmp_path_factory):
    """The app's key pair, the stand-in platform's pair and a stranger's pair, with files where needed."""
    folder = tmp_path_factory.mktemp("alipay-keys")
    app_private, app_public = key_pair()
    platform_private, platform_public = key_pair()
    stranger_private, stranger_public = key_pair()
    files = {"app_private": app_private, "platform_public": platform_public,
             "stranger_private": stranger_private, "stranger_public": stranger_public}
    for name, pem in files.items():
        (folder / f"{name}.pem").write_bytes(pem)
    return SimpleNamespace(
        dir=folder, app_public=app_public, platform_private=platform_private, stranger_private=stranger_private,
        app_private_file=folder / "app_private.pem", platform_public_file=folder / "platform_public.pem",
        stranger_private_file=folder / "stranger_private.pem", stranger_public_file=folder / "stranger_public.pem",
    )


@pytest.fixture
def standin(alipay_keys):
    """A running Alipay stand-in gateway that knows the app's public key."""
    server = AlipayStandIn(APP_ID, alipay_keys.app_public, alipay_keys.platform_private, SELLER_ID).start()
    yield server
    server.stop()


@pytest.fixture
def alipay_env(monkeypatch, alipay_keys, standin, reload_settings):
    """ALIPAY_* set as an operator would, the gateway being the stand-in; returns the stand-in."""
    monkeypatch.setenv("ALIPAY_APP_ID", APP_ID)
    monkeypatch.setenv("ALIPAY_APP_PRIVATE_KEY_FILE", str(alipay_keys.app_private_file))
    monkeypatch.setenv("ALIPAY_PUBLIC_KEY_FILE", str(alipay_keys.platform_public_file))
    monkeypatch.setenv("ALIPAY_SELLER_ID", SELLER_ID)
    monkeypatch.setenv("ALIPAY_GATEWAY", standin.url)
    monkeypatch.delenv("PAYFIRST_SANDBOX", raising=False)
    reload_settings()
    return standin


@pytest.fixture
def no_alipay(monkeypatch, reload_settings):
    """No ALIPAY_* variable and no sandbox."""
    for name in ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY_FILE", "ALIPAY_PUBLIC_KEY_FILE", "ALIPAY_SELLER_ID",
                 "ALIPAY_GATEWAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYFIRST_SANDBOX", "0")
    reload_settings()


@pytest.fixture
def make_order(make_account):
    """make_order(amount_fen=1234, channel=..., account=None) -> a committed order in state created."""

    def make(amount_fen: int = 1234, channel: Channel = Channel.ALIPAY_WAP, account=None) -> PaymentOrder:
        order = create_order(db.session, account or make_account(), amount_fen, channel, "test")
        db.session.commit()
        return order

    return make


@pytest.fixture
def paid_trade(alipay_env, make_order):
    """paid_trade(amount_fen, **notify overrides) -> (order, signed notify fields) for a trade the payer paid."""

    def make(amount_fen: int = 1234, **overrides):
        order = make_order(amount_fen)
        alipay_env.open_trade(order.out_trade_no, fen_to_yuan(amount_fen), f"先付充值 {order.account.code}")
        alipay_env.pay(order.out_trade_no)
        return order, alipay_env.notify_fields(order.out_trade_no, **overrides)

    return make


@pytest.fixture
def notify(client):
    """notify(fields) POSTs a form to the Alipay notify route."""

    def post(fields, **kwargs):
        return client.post(NOTIFY_PATH, data=fields, **kwargs)

    return post


@pytest.fixture
def books():
    """books() -> counts of what a notify may change: ledger entries, notifications, alarms, orders by status."""

    def read() -> dict:
        db.session.expire_all()
        count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        by_status = select(PaymentOrder.status, func.count()).group_by(PaymentOrder.status)
        statuses = dict(db.session.execute(by_status).all())
        return {"entries": count(LedgerEntry), "notifications": count(PaymentNotification), "alarms": count(Alarm),
                "orders": {k.value: v for k, v in statuses.items()}}

    return read


@pytest.fixture(scope="session")
def sandbox_keys(tmp_path_factory):
    """The demo sandbox's two key pairs, made once by the same code `demo seed` runs."""
    from portal.payments.providers.sandbox import ensure_demo_keys

    folder = tmp_path_factory.mktemp("instance") / "alipay-sandbox"
    ensure_demo_keys(folder)
    return folder


@pytest.fixture
def sandbox_on(app, monkeypatch, sandbox_keys, no_alipay, reload_settings):
    """The sandbox enabled explicitly (PAYFIRST_SANDBOX=1) with its keys; Alipay itself unconfigured."""
    monkeypatch.setenv("PAYFIRST_SANDBOX", "1")
    reload_settings()
    monkeypatch.setitem(app.config, "ALIPAY_SANDBOX_KEY_DIR", str(sandbox_keys))
    return sandbox_keys


@pytest.fixture
def live_server(app, monkeypatch):
    """The app served over real HTTP on 127.0.0.1, and PUBLIC_BASE_URL pointing at it."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="live-app", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", url)
    yield url
    server.shutdown()
    server.server_close()


def sandbox_key(folder: Path, name: str) -> bytes:
    """A sandbox key file's PEM bytes."""
    from portal.payments.providers.sandbox import KEY_FILES

    return (folder / KEY_FILES[name]).read_bytes()
