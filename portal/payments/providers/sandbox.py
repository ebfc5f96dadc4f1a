"""The demo payment sandbox: Alipay's protocol with keys made on this machine.

`demo seed` makes two RSA key pairs under instance/: one for "the app" and one standing in for the
Alipay platform. With the sandbox enabled, the Alipay notify route verifies notifies carrying the
sandbox app id with the sandbox platform's public key. The sandbox pay page signs an Alipay-format
notify with the platform's private key and POSTs it over HTTP to this app's own
PUBLIC_BASE_URL + /pay/alipay/notify, so the demo goes through the real verification and crediting.

Enabled when PAYFIRST_SANDBOX says so (1/0), else when no ALIPAY_* variable is set and the database
is the embedded SQLite demo. Sandbox-signed notifies may pay only orders of channel `sandbox`.

The sandbox builds on Alipay (its keys, its notify route), never the other way round: the notify route
hands `alipay_config()` to the Alipay notify check as a candidate merchant. As a provider it has no
platform to ask: no query, no close, no refund, no bill.
"""
from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import date
from functools import lru_cache
from pathlib import Path

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import current_app, has_app_context

from portal import settings
from portal.models import PaymentOrder, utcnow
from portal.money import fen_to_yuan
from portal.payments.providers.alipay.api import ALIPAY_TZ, AlipayConfig, read_key
from portal.payments.providers.base import BillRow, PayData, RefundAnswer, TradeView
from portal.settings import public_url

#: the sandbox's merchant identity; real Alipay app ids are 16 digits starting 20..., this one cannot be real
APP_ID = "9021000000000001"
SELLER_ID = "2088000000000001"
BUYER_ID = "2088000000000002"
#: the folder under instance/ holding the sandbox keys
DIR_NAME = "alipay-sandbox"
KEY_FILES = {
    "app_private": "app_private_key.pem",
    "app_public": "app_public_key.pem",
    "platform_private": "alipay_private_key.pem",
    "platform_public": "alipay_public_key.pem",
}


def key_dir() -> Path:
    """Where the sandbox keys live: instance/alipay-sandbox (ALIPAY_SANDBOX_KEY_DIR in the app config wins)."""
    configured = current_app.config.get("ALIPAY_SANDBOX_KEY_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / DIR_NAME


def ensure_demo_keys(directory: Path) -> bool:
    """Make the two demo key pairs once; True when they were made now."""
    if all((directory / name).exists() for name in KEY_FILES.values()):
        return False
    directory.mkdir(parents=True, exist_ok=True)
    for who in ("app", "platform"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = directory / KEY_FILES[f"{who}_private"]
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        private.chmod(0o600)
        (directory / KEY_FILES[f"{who}_public"]).write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return True


def enabled() -> bool:
    """PAYFIRST_SANDBOX when set; otherwise on only for the embedded demo with Alipay unconfigured."""
    if not has_app_context():
        return False
    s = settings.current()
    if s.payments.sandbox is not None:
        return s.payments.sandbox
    return not s.alipay.any_set and current_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def missing() -> list[str]:
    """What stops the sandbox channel here (empty when it is ready)."""
    if not enabled():
        return ["PAYFIRST_SANDBOX=1 (the sandbox is on by itself only in the embedded SQLite demo)"]
    if not all((key_dir() / name).exists() for name in KEY_FILES.values()):
        return [f"the sandbox keys in {key_dir()} (run `flask --app wsgi demo seed`)"]
    return []


def alipay_config() -> AlipayConfig | None:
    """The sandbox merchant for the Alipay notify route, or None when the sandbox is off."""
    if not has_app_context() or missing():
        return None
    directory = key_dir()
    return _load(str(directory), (directory / KEY_FILES["platform_public"]).stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _load(directory: str, _version: int) -> AlipayConfig:
    path = Path(directory)
    return AlipayConfig(
        app_id=APP_ID, seller_id=SELLER_ID, gateway="sandbox:", sandbox=True,
        app_private_key=read_key("sandbox app key", str(path / KEY_FILES["app_private"]), private=True),
        alipay_public_key=read_key("sandbox platform key", str(path / KEY_FILES["platform_public"]), private=False),
    )


class SandboxProvider:
    """The sandbox for the registry: its pay page stands in for Alipay's cashier, and that is all there is."""

    bill_source = None
    can_refund = False

    def missing(self) -> list[str]:
        """What stops the sandbox channel here."""
        return missing()

    def start(self, order: PaymentOrder, context: dict) -> PayData:
        """The sandbox's own pay page."""
        return {"pay_url": f"/pay/sandbox/{order.out_trade_no}"}

    def query(self, out_trade_no: str) -> TradeView | None:
        """No platform to ask: an open sandbox order just expires here."""
        return None

    def close(self, out_trade_no: str) -> bool:
        """Nothing is open anywhere else."""
        return True

    def refund(self, order: PaymentOrder, out_refund_no: str, amount_fen: int, reason: str) -> RefundAnswer:
        """Refused: no money moved anywhere to send back."""
        return RefundAnswer(False, "the sandbox cannot refund")

    def download_bill(self, day: date) -> list[BillRow]:
        """No bill."""
        return []


def trade_no(order: PaymentOrder) -> str:
    """The sandbox platform's trade number: fixed per order, so paying twice is a duplicate, not a second trade."""
    digits = int(hashlib.sha256(order.out_trade_no.encode()).hexdigest(), 16) % 10**18
    return f"{order.created_at.astimezone(ALIPAY_TZ):%Y%m%d}22{digits:018d}"


def signed_notify(order: PaymentOrder) -> dict[str, str]:
    """An Alipay trade_status_sync notify for the whole order, RSA2-signed with the sandbox platform key."""
    now = utcnow().astimezone(ALIPAY_TZ).strftime("%Y-%m-%d %H:%M:%S")
    amount = fen_to_yuan(order.amount_fen)
    fields = {
        "notify_time": now, "notify_type": "trade_status_sync", "notify_id": uuid.uuid4().hex,
        "charset": "utf-8", "version": "1.0", "sign_type": "RSA2", "app_id": APP_ID, "auth_app_id": APP_ID,
        "trade_no": trade_no(order), "out_trade_no": order.out_trade_no, "buyer_id": BUYER_ID,
        "buyer_logon_id": "demo***@payfirst.test", "seller_id": SELLER_ID, "trade_status": "TRADE_SUCCESS",
        "total_amount": amount, "receipt_amount": amount, "invoice_amount": amount, "buyer_pay_amount": amount,
        "point_amount": "0.00", "subject": f"先付充值 {order.account.code}",
        "gmt_create": order.created_at.astimezone(ALIPAY_TZ).strftime("%Y-%m-%d %H:%M:%S"), "gmt_payment": now,
        "fund_bill_list": f'[{{"amount":"{amount}","fundChannel":"ALIPAYACCOUNT"}}]',
    }
    fields["sign"] = sign(fields, (key_dir() / KEY_FILES["platform_private"]).read_bytes())
    return fields


def sign(fields: dict[str, str], private_pem: bytes) -> str:
    """Alipay's RSA2: SHA256withRSA over the sorted k=v pairs, without sign, sign_type and empty values."""
    content = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("sign", "sign_type") and v != "")
    key = serialization.load_pem_private_key(private_pem, password=None)
    return base64.b64encode(key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode()


def deliver_notify(fields: dict[str, str]) -> tuple[int, str]:
    """POST a notify to this app's own public notify URL, as Alipay would; (status, body), 0 when unreachable."""
    try:
        response = requests.post(public_url("/pay/alipay/notify"), data=fields, timeout=5)
    except requests.RequestException as exc:
        return 0, str(exc)
    return response.status_code, response.text
