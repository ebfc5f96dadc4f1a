"""WeChat Pay API v3 (JSON, RSA-SHA256, AES-256-GCM) through wechatpayv3: the API the WeChat provider prefers.

The WeChat provider (`provider`) uses this module when its settings are complete, else API v2 (`v2`).
Answers and notifies are verified with the WeChat Pay public key (微信支付公钥, WECHAT_PAY_PUBLIC_KEY_ID):
this module never downloads platform certificates, so an unknown key id is refused without a call out.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import requests
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt, load_public_key, rsa_verify

from portal.models import PaymentOrder
from portal.payments.notify import VerifiedPayment
from portal.payments.orders import PaymentError
from portal.payments.providers.base import BillRow, RefundNotice
from portal.payments.providers.wechat.common import (
    BEIJING,
    TIMEOUT,
    NotifyRejected,
    WeChatPayError,
    description,
    merchant_problem,
    notify_url,
    parse_bill,
    qr_svg,
)
from portal.settings import current

NOTIFY_PATH = "/pay/wechat/v3/notify"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
#: a notify signed longer ago (or further ahead) than this is refused as a possible replay
MAX_SKEW_SECONDS = 300
#: a decompressed bill larger than this is refused rather than filling memory
MAX_BILL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class V3Settings:
    """The API v3 settings, with the key files' contents."""

    app_id: str
    mch_id: str
    apiv3_key: str
    private_key_pem: str
    cert_serial: str
    public_key_pem: str
    public_key_id: str
    api_base: str


def missing() -> list[str]:
    """The API v3 variables still unset or unusable (an empty list: API v3 is usable)."""
    return current().wechat.v3_missing()


def settings() -> V3Settings:
    """The current API v3 settings (WeChatPayError when they are incomplete)."""
    if missing():
        raise WeChatPayError(f"WeChat Pay API v3 is not configured: set {', '.join(missing())}")
    w = current().wechat
    return V3Settings(
        app_id=w.app_id, mch_id=w.mch_id, apiv3_key=w.apiv3_key, private_key_pem=_read(w.mch_private_key_file),
        cert_serial=w.mch_cert_serial, public_key_pem=_read(w.pay_public_key_file),
        public_key_id=w.pay_public_key_id, api_base=w.pay_api_base,
    )


def _read(path: str) -> str:
    try:
        return _read_cached(path, os.stat(path).st_mtime_ns)
    except (OSError, UnicodeError) as exc:
        raise WeChatPayError(f"cannot read {path}: {exc}") from None


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int) -> str:
    # Keyed by modification time, so a rotated key file is read again.
    with open(path, encoding="utf-8") as fh:
        return fh.read()


class _Client(WeChatPay):
    """wechatpayv3's client in public-key mode, on WECHAT_PAY_API_BASE (production or a stand-in)."""

    def __init__(self, s: V3Settings):
        try:
            super().__init__(wechatpay_type=WeChatPayType.NATIVE, mchid=s.mch_id, private_key=s.private_key_pem,
                             cert_serial_no=s.cert_serial, appid=s.app_id, apiv3_key=s.apiv3_key,
                             public_key=s.public_key_pem, public_key_id=s.public_key_id, timeout=TIMEOUT)
        except Exception as exc:  # the SDK raises a bare Exception for a key that does not load
            raise WeChatPayError(f"WeChat Pay API v3 keys do not load: {exc}") from None
        # The SDK fixes its gateway in Core.__init__ and offers no parameter; fail loudly if that changes.
        if not hasattr(self._core, "_gate_way"):
            raise RuntimeError("wechatpayv3 no longer keeps its gateway in Core._gate_way")
        self._core._gate_way = s.api_base


@functools.lru_cache(maxsize=4)
def client(s: V3Settings) -> _Client:
    """One wechatpayv3 client per distinct settings (it holds the parsed keys)."""
    return _Client(s)


@functools.lru_cache(maxsize=4)
def _platform_key(pem: str):
    try:
        return load_public_key(pem)
    except Exception:  # the SDK raises a bare Exception for a key that does not load
        raise WeChatPayError("WECHAT_PAY_PUBLIC_KEY_FILE does not hold a PEM public key") from None


def _call(s: V3Settings, method: str, *args, **kwargs) -> tuple[int, object]:
    """Call the SDK (which signs the request and verifies a 2xx answer's signature)."""
    try:
        return getattr(client(s), method)(*args, **kwargs)
    except requests.RequestException as exc:
        raise WeChatPayError(f"WeChat Pay could not be reached: {exc}") from None
    except WeChatPayError:
        raise
    except Exception as exc:  # the SDK raises a bare Exception when an answer's signature fails
        raise WeChatPayError(f"WeChat Pay's answer was refused: {exc}") from None


def _answer(code: int, body, ok: tuple[int, ...] = (200,)) -> dict:
    """The JSON of a successful answer; WeChatPayError with the platform's code otherwise."""
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        data = None
    if code not in ok:
        err = data if isinstance(data, dict) else {}
        raise WeChatPayError(f"WeChat Pay refused ({code}): {err.get('message') or err.get('code') or body!r:.200}",
                             str(err.get("code") or code))
    if not isinstance(data, dict):
        raise WeChatPayError("WeChat Pay answered something that is not a JSON object")
    return data


def _fen(value) -> int:
    if type(value) is not int or value < 0:
        raise WeChatPayError(f"WeChat Pay answered an amount that is not whole fen: {value!r}")
    return value


def _rfc3339(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value or "").astimezone(ZoneInfo("UTC"))
    except ValueError:
        return None


# --- paying ----------------------------------------------------------------------------------------

def start(order: PaymentOrder, context: dict, trade_type: str) -> dict:
    """Place the order (下单): a NATIVE code_url with its QR, or RSA-signed JSAPI bridge parameters."""
    s = settings()
    kwargs = {}
    if trade_type == "JSAPI":
        openid = context.get("openid") or order.payer
        if not openid:
            raise PaymentError("WeChat Pay inside WeChat needs the payer's openid: log in through WeChat first")
        kwargs["payer"] = {"openid": openid}
    code, body = _call(s, "pay", description=description(order), out_trade_no=order.out_trade_no,
                       amount={"total": order.amount_fen, "currency": "CNY"},
                       time_expire=order.expires_at.astimezone(BEIJING).isoformat(timespec="seconds"),
                       notify_url=notify_url(NOTIFY_PATH), pay_type=getattr(WeChatPayType, trade_type), **kwargs)
    data = _answer(code, body)
    if trade_type == "NATIVE":
        if not isinstance(data.get("code_url"), str):
            raise WeChatPayError("WeChat Pay answered without a code_url")
        return {"code_url": data["code_url"], "qr_svg": qr_svg(data["code_url"])}
    if not isinstance(data.get("prepay_id"), str):
        raise WeChatPayError("WeChat Pay answered without a prepay_id")
    return {"jsapi_params": jsapi_params(s, data["prepay_id"])}


def jsapi_params(s: V3Settings, prepay_id: str) -> dict:
    """WeixinJSBridge getBrandWCPayRequest parameters, signed RSA-SHA256 with the merchant key."""
    params = {"appId": s.app_id, "timeStamp": str(int(time.time())), "nonceStr": secrets.token_hex(16),
              "package": f"prepay_id={prepay_id}", "signType": "RSA"}
    params["paySign"] = client(s).sign([params["appId"], params["timeStamp"], params["nonceStr"], params["package"]])
    return params


# --- notifies --------------------------------------------------------------------------------------

def verify_notify(body: bytes, headers: Mapping[str, str], now: float | None = None
                  ) -> VerifiedPayment | RefundNotice | None:
    """Verify and decrypt an API v3 notify; None for an event type that needs nothing from us."""
    s = settings()
    signature, stamp, nonce, serial = (headers.get(f"Wechatpay-{n}") for n in ("Signature", "Timestamp", "Nonce",
                                                                                 "Serial"))
    if not (signature and stamp and nonce and serial):
        raise NotifyRejected("missing Wechatpay-Signature, -Timestamp, -Nonce or -Serial", 401)
    if headers.get("Wechatpay-Signature-Type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
        raise NotifyRejected("unsupported Wechatpay-Signature-Type", 401)
    if not hmac.compare_digest(serial.encode(), s.public_key_id.encode()):
        raise NotifyRejected(f"Wechatpay-Serial {serial[:64]!r} is not our WeChat Pay public key id", 401)
    now = time.time() if now is None else now
    if not stamp.isascii() or not stamp.isdigit() or abs(now - int(stamp)) > MAX_SKEW_SECONDS:
        raise NotifyRejected("Wechatpay-Timestamp is more than 5 minutes away", 401)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotifyRejected("body is not UTF-8") from None
    if not rsa_verify(stamp, nonce, text, signature, _platform_key(s.public_key_pem)):
        raise NotifyRejected("Wechatpay-Signature does not verify", 401)
    doc = _json_object(text, "body")
    resource = doc.get("resource")
    if doc.get("resource_type") != "encrypt-resource" or not isinstance(resource, dict):
        raise NotifyRejected("no encrypted resource")
    event_type = doc.get("event_type")
    plain = _decrypt(s, resource)
    if event_type == "TRANSACTION.SUCCESS":
        return _payment(s, plain)
    if isinstance(event_type, str) and event_type.startswith("REFUND."):
        return _refund(s, plain)
    return None


def _json_object(text: str, what: str) -> dict:
    try:
        doc = json.loads(text)
    except ValueError:
        raise NotifyRejected(f"{what} is not JSON") from None
    if not isinstance(doc, dict):
        raise NotifyRejected(f"{what} is not a JSON object")
    return doc


def _decrypt(s: V3Settings, resource: dict) -> dict:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise NotifyRejected("resource algorithm is not AEAD_AES_256_GCM")
    nonce, ciphertext, associated = (resource.get(k) for k in ("nonce", "ciphertext", "associated_data"))
    if not (isinstance(nonce, str) and isinstance(ciphertext, str) and isinstance(associated or "", str)):
        raise NotifyRejected("resource without nonce or ciphertext")
    try:
        base64.b64decode(ciphertext, validate=True)  # the SDK's decoder would skip stray characters
    except binascii.Error:
        raise NotifyRejected("resource ciphertext is not base64") from None
    try:
        plain = aes_decrypt(nonce=nonce, ciphertext=ciphertext, associated_data=associated or "",
                            apiv3_key=s.apiv3_key)
    except (ValueError, UnicodeError):  # a nonce of the wrong length, a plaintext that is not UTF-8
        plain = None
    if plain is None:
        raise NotifyRejected("resource does not decrypt with our APIv3 key (authentication tag)")
    return _json_object(plain, "decrypted resource")


def _payment(s: V3Settings, res: dict) -> VerifiedPayment:
    amount = res.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    fields = ("out_trade_no", "transaction_id", "trade_state", "appid", "mchid")
    if type(total) is not int or not all(isinstance(res.get(f), str) and res.get(f) for f in fields):
        raise NotifyRejected("transaction without out_trade_no, transaction_id, trade_state, appid, mchid "
                             "or an integer amount.total")
    payer = res.get("payer")
    return VerifiedPayment(
        source="wechat_v3", out_trade_no=res["out_trade_no"], platform_trade_no=res["transaction_id"],
        amount_fen=total, success=res["trade_state"] == "SUCCESS",
        payer=str(payer.get("openid") or "") if isinstance(payer, dict) else "",
        paid_at=_rfc3339(res.get("success_time")),
        merchant_problem=merchant_problem(s, res["appid"], res["mchid"]),
    )


def _refund(s: V3Settings, res: dict) -> RefundNotice:
    amount = res.get("amount")
    refund_fen = amount.get("refund") if isinstance(amount, dict) else None
    fields = ("out_trade_no", "out_refund_no", "refund_id", "refund_status", "mchid")
    if type(refund_fen) is not int or not all(isinstance(res.get(f), str) and res.get(f) for f in fields):
        raise NotifyRejected("refund without out_trade_no, out_refund_no, refund_id, refund_status, mchid "
                             "or an integer amount.refund")
    return RefundNotice(source="wechat_v3", out_trade_no=res["out_trade_no"], out_refund_no=res["out_refund_no"],
                        refund_id=res["refund_id"], refund_fen=refund_fen, status=res["refund_status"],
                        merchant_problem=merchant_problem(s, None, res["mchid"]))


# --- calls the recovery sweep, refunds and reconciliation make ---------------------------------------

def query_order(out_trade_no: str) -> dict:
    """The platform's view of one trade: {"state", "payment": VerifiedPayment (source "query") or None}."""
    s = settings()
    code, body = _call(s, "query", out_trade_no=out_trade_no)
    if code == 404:
        return {"state": "NOTEXIST", "payment": None}
    data = _answer(code, body)
    state = data.get("trade_state") or ""
    payer = data.get("payer") if isinstance(data.get("payer"), dict) else {}
    amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
    return {"state": state, "payment": VerifiedPayment(
        source="query", out_trade_no=data.get("out_trade_no") or out_trade_no,
        platform_trade_no=data.get("transaction_id") or "", amount_fen=_fen(amount.get("total", 0)),
        success=state == "SUCCESS", payer=str(payer.get("openid") or ""), paid_at=_rfc3339(data.get("success_time")),
        merchant_problem=merchant_problem(s, data.get("appid"), data.get("mchid")))}


def close_order(out_trade_no: str) -> dict:
    """Close an unpaid trade on the platform (WeChatPayError when it cannot be closed)."""
    s = settings()
    _answer(*_call(s, "close", out_trade_no=out_trade_no), ok=(204, 200))
    return {"closed": True}


def refund(out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str = "") -> dict:
    """Ask for a refund; the outcome comes by notify (REFUND.SUCCESS) or query."""
    for value in (refund_fen, total_fen):
        if type(value) is not int or value <= 0:
            raise ValueError("refund and total amounts are positive integers of fen")
    s = settings()
    data = _answer(*_call(s, "refund", out_refund_no=out_refund_no, out_trade_no=out_trade_no,
                          amount={"refund": refund_fen, "total": total_fen, "currency": "CNY"},
                          reason=reason or None, notify_url=notify_url(NOTIFY_PATH)))
    amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
    return {"out_refund_no": data.get("out_refund_no") or out_refund_no, "refund_id": data.get("refund_id") or "",
            "status": data.get("status") or "", "refund_fen": _fen(amount.get("refund"))}


def download_bill(bill_date: date) -> list[BillRow]:
    """The day's trade bill (tradebill → download_url → gzip CSV) as BillLine-shaped dicts."""
    s = settings()
    code, body = _call(s, "trade_bill", bill_date=bill_date.isoformat(), bill_type="ALL", tar_type="GZIP")
    if code == 400 and "NO_STATEMENT_EXIST" in str(body):
        return []
    meta = _answer(code, body)
    url = meta.get("download_url")
    if not isinstance(url, str) or not url.startswith(s.api_base + "/"):
        raise WeChatPayError("the bill's download_url is not on the WeChat Pay API")
    code, content = _call(s, "download_bill", url)
    if code != 200 or not isinstance(content, bytes):
        raise WeChatPayError(f"the bill download failed ({code})")
    raw = _gunzip(content)
    if meta.get("hash_type") == "SHA1" and not hmac.compare_digest(
            hashlib.sha1(raw).hexdigest(), str(meta.get("hash_value", "")).lower()):
        raise WeChatPayError("the downloaded bill does not match its SHA1")
    return parse_bill(raw.decode("utf-8"), bill_date)


def _gunzip(content: bytes) -> bytes:
    # zlib rather than gzip.decompress: it stops at MAX_BILL_BYTES instead of inflating a bomb.
    if not content.startswith(b"\x1f\x8b"):
        return content  # asked for GZIP, but a plain bill reads just as well
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(content, MAX_BILL_BYTES)
    except zlib.error:
        raise WeChatPayError("the downloaded bill is not valid gzip") from None
    if inflater.unconsumed_tail:
        raise WeChatPayError("the downloaded bill is larger than we accept")
    return raw

