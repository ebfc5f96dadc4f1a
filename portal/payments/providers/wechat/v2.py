"""WeChat Pay API v2 (XML, MD5 signatures) through wechatpy: the fallback when API v3 is not configured.

The WeChat provider (`provider`) uses this module when only the v2 settings are complete; what both APIs
share (errors, the QR code, the bill parser, the merchant check) is in `common`.
"""
from __future__ import annotations

import functools
import hmac
import re
from dataclasses import dataclass
from datetime import date

import requests
import xmltodict
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature

from portal.models import PaymentOrder
from portal.payments.notify import VerifiedPayment
from portal.payments.orders import PaymentError
from portal.payments.providers.base import BillRow, RefundNotice
from portal.payments.providers.wechat.common import (
    BEIJING,
    TIMEOUT,
    NotifyRejected,
    WeChatPayError,
    beijing_time,
    description,
    merchant_problem,
    notify_url,
    parse_bill,
    qr_svg,
)
from portal.settings import current

NOTIFY_PATH = "/pay/wechat/notify"
_FEN_RE = re.compile(r"[0-9]{1,12}")
_DTD_RE = re.compile(r"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True)
class V2Settings:
    """The API v2 settings, read from the environment."""

    app_id: str
    mch_id: str
    api_key: str
    api_base: str
    #: the merchant API certificate and its key, which v2 refunds present as a TLS client certificate
    cert_file: str | None = None
    key_file: str | None = None


def missing() -> list[str]:
    """The API v2 variables still unset (an empty list: API v2 is usable)."""
    return current().wechat.v2_missing()


def settings() -> V2Settings:
    """The current API v2 settings (WeChatPayError when they are incomplete)."""
    if missing():
        raise WeChatPayError(f"WeChat Pay API v2 is not configured: set {', '.join(missing())}")
    w = current().wechat
    return V2Settings(app_id=w.app_id, mch_id=w.mch_id, api_key=w.api_key, api_base=w.pay_api_base,
                      cert_file=w.mch_cert_file, key_file=w.mch_private_key_file)


class _Client(WeChatPay):
    """wechatpy's client on WECHAT_PAY_API_BASE: production, or a stand-in in the tests."""

    def __init__(self, s: V2Settings, with_cert: bool):
        # wechatpy presents a client certificate on every call it has one for; only refunds need it.
        super().__init__(s.app_id, s.api_key, s.mch_id, mch_cert=s.cert_file if with_cert else None,
                         mch_key=s.key_file if with_cert else None, timeout=TIMEOUT)
        # wechatpy joins endpoint names ("pay/unifiedorder") onto this instance-overridable base.
        self.API_BASE_URL = s.api_base.rstrip("/") + "/"


@functools.lru_cache(maxsize=8)
def client(s: V2Settings, with_cert: bool = False) -> _Client:
    """One wechatpy client (and HTTP session) per distinct settings."""
    return _Client(s, with_cert)


# --- notifies --------------------------------------------------------------------------------------

def parse_xml(body: bytes) -> dict[str, str]:
    """A flat WeChat XML document as a dict: no DTD, no entities, no nesting, else NotifyRejected."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotifyRejected("body is not UTF-8") from None
    # Decoded first, so a UTF-16 document cannot hide its DOCTYPE from this check.
    if _DTD_RE.search(text):
        raise NotifyRejected("XML with a DOCTYPE or entity declaration")
    try:
        doc = xmltodict.parse(text, disable_entities=True)
    except Exception:  # expat errors, and xmltodict's ValueError on any entity declaration
        raise NotifyRejected("body is not well-formed XML") from None
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise NotifyRejected("no <xml> document")
    flat = {}
    for key, value in root.items():
        value = "" if value is None else value
        if not isinstance(value, str) or key.startswith(("@", "#")):
            raise NotifyRejected(f"element {key!r} is not a plain value")
        flat[key] = value
    return flat


def signed_by(data: dict[str, str], api_key: str) -> bool:
    """Whether `data` carries the MD5 `sign` wechatpy computes with our API key."""
    sign = data.get("sign") or ""
    expected = calculate_signature({k: v for k, v in data.items() if k != "sign"}, api_key)
    return hmac.compare_digest(sign.encode(), expected.encode())


def verify_notify(body: bytes) -> VerifiedPayment | RefundNotice:
    """Check an API v2 notify: a payment (MD5 sign) or a refund (req_info that decrypts with our key)."""
    s = settings()
    data = parse_xml(body)
    if "req_info" in data:
        return _refund_notice(s, data)
    if not data.get("sign"):
        raise NotifyRejected("missing sign")
    if data.get("sign_type", "MD5") != "MD5":
        raise NotifyRejected(f"sign_type {data['sign_type']!r} is not the MD5 we ask for")
    if not signed_by(data, s.api_key):
        raise NotifyRejected("signature does not verify")
    success = data.get("return_code") == "SUCCESS" and data.get("result_code") == "SUCCESS"
    needed = ("appid", "mch_id", "out_trade_no", "total_fee") + (("transaction_id",) if success else ())
    absent = [name for name in needed if not data.get(name)]
    if absent:
        raise NotifyRejected(f"missing {', '.join(absent)}")
    if not _FEN_RE.fullmatch(data["total_fee"]):
        raise NotifyRejected("total_fee is not a whole number of fen")
    return VerifiedPayment(
        source="wechat_v2", out_trade_no=data["out_trade_no"], platform_trade_no=data.get("transaction_id", ""),
        amount_fen=int(data["total_fee"]), success=success, payer=data.get("openid", ""),
        paid_at=beijing_time(data.get("time_end")),
        merchant_problem=merchant_problem(s, data.get("appid"), data.get("mch_id")),
    )


def _refund_notice(s: V2Settings, data: dict[str, str]) -> RefundNotice:
    # A v2 refund notify is not signed: it is ours when req_info decrypts (AES-256-ECB, MD5 of the key).
    try:
        info = client(s).parse_refund_notify_result(data)
        refund_fen = info["refund_fee"]
        fields = {name: info[name] for name in ("out_trade_no", "out_refund_no", "refund_id", "refund_status")}
    except Exception:  # wrong app id or merchant, bad base64, bad padding, not XML, fields missing
        raise NotifyRejected("refund notify req_info does not decrypt for this merchant") from None
    if type(refund_fen) is not int or not all(isinstance(v, str) and v for v in fields.values()):
        raise NotifyRejected("refund notify with missing fields")
    return RefundNotice(source="wechat_v2", out_trade_no=fields["out_trade_no"],
                        out_refund_no=fields["out_refund_no"], refund_id=fields["refund_id"],
                        refund_fen=refund_fen, status=fields["refund_status"])


# --- calls to the platform -------------------------------------------------------------------------

def _call(s: V2Settings, func, *args, **kwargs) -> dict:
    """Call a wechatpy API and check the answer's signature and merchant (wechatpy checks neither)."""
    try:
        data = func(*args, **kwargs)
    except WeChatPayException as exc:
        code = exc.errcode or exc.return_code or ""
        raise WeChatPayError(f"WeChat Pay refused: {exc.errmsg or exc.return_msg or code}", code) from None
    except (requests.RequestException, OSError) as exc:  # OSError: a certificate file that is not there
        raise WeChatPayError(f"WeChat Pay could not be reached: {exc}") from None
    if not isinstance(data, dict):
        raise WeChatPayError("WeChat Pay answered something that is not its XML")
    if not signed_by(data, s.api_key):
        raise WeChatPayError("WeChat Pay's answer is not signed with our API key")
    problem = merchant_problem(s, data.get("appid"), data.get("mch_id"))
    if problem:
        raise WeChatPayError(f"WeChat Pay's answer is for another merchant: {problem}")
    return data


def start(order: PaymentOrder, context: dict, trade_type: str) -> dict:
    """Unified order (统一下单): a NATIVE code_url with its QR, or signed JSAPI bridge parameters."""
    s = settings()
    api = client(s)
    openid = (context.get("openid") or order.payer) if trade_type == "JSAPI" else None
    if trade_type == "JSAPI" and not openid:
        raise PaymentError("WeChat Pay inside WeChat needs the payer's openid: log in through WeChat first")
    data = _call(s, api.order.create, trade_type=trade_type, body=description(order), total_fee=order.amount_fen,
                 notify_url=notify_url(NOTIFY_PATH), client_ip=context.get("client_ip") or "127.0.0.1",
                 user_id=openid, out_trade_no=order.out_trade_no,
                 time_expire=order.expires_at.astimezone(BEIJING),
                 product_id=order.out_trade_no if trade_type == "NATIVE" else None)
    if trade_type == "NATIVE":
        if not data.get("code_url"):
            raise WeChatPayError("WeChat Pay answered without a code_url")
        return {"code_url": data["code_url"], "qr_svg": qr_svg(data["code_url"])}
    if not data.get("prepay_id"):
        raise WeChatPayError("WeChat Pay answered without a prepay_id")
    return {"jsapi_params": api.jsapi.get_jsapi_params(data["prepay_id"])}


def query_order(out_trade_no: str) -> dict:
    """The platform's view of one trade: {"state", "payment": VerifiedPayment (source "query") or None}."""
    s = settings()
    try:
        data = _call(s, client(s).order.query, out_trade_no=out_trade_no)
    except WeChatPayError as exc:
        if exc.code == "ORDERNOTEXIST":
            return {"state": "NOTEXIST", "payment": None}
        raise
    fee = data.get("total_fee") or "0"
    if not _FEN_RE.fullmatch(fee):
        raise WeChatPayError("WeChat Pay answered a total_fee that is not whole fen")
    state = data.get("trade_state", "")
    return {"state": state, "payment": VerifiedPayment(
        source="query", out_trade_no=data.get("out_trade_no") or out_trade_no,
        platform_trade_no=data.get("transaction_id") or "", amount_fen=int(fee), success=state == "SUCCESS",
        payer=data.get("openid") or "", paid_at=beijing_time(data.get("time_end")))}


def close_order(out_trade_no: str) -> dict:
    """Close an unpaid trade on the platform (WeChatPayError with code ORDERPAID when it was paid)."""
    s = settings()
    _call(s, client(s).order.close, out_trade_no)
    return {"closed": True}


def refund(out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str = "") -> dict:
    """Ask for a refund (needs the merchant API certificate); the outcome comes by notify or query."""
    for value in (refund_fen, total_fen):
        if type(value) is not int or value <= 0:
            raise ValueError("refund and total amounts are positive integers of fen")
    s = settings()
    if not (s.cert_file and s.key_file):
        raise WeChatPayError("API v2 refunds need the merchant certificate: set WECHAT_MCH_CERT_FILE and "
                             "WECHAT_MCH_PRIVATE_KEY_FILE")
    data = _call(s, client(s, with_cert=True).refund.apply, total_fee=total_fen, refund_fee=refund_fen,
                 out_refund_no=out_refund_no, out_trade_no=out_trade_no, refund_desc=reason or None,
                 notify_url=notify_url(NOTIFY_PATH))
    fee = data.get("refund_fee") or ""
    if not _FEN_RE.fullmatch(fee):
        raise WeChatPayError("WeChat Pay answered a refund_fee that is not whole fen")
    return {"out_refund_no": data.get("out_refund_no") or out_refund_no, "refund_id": data.get("refund_id") or "",
            "status": "PROCESSING", "refund_fen": int(fee)}


def download_bill(bill_date: date) -> list[BillRow]:
    """The day's trade bill (对账单) as BillLine-shaped dicts; [] when the platform has no bill."""
    s = settings()
    try:
        text = client(s).tools.download_bill(bill_date, bill_type="ALL")
    except WeChatPayException as exc:
        if "No Bill Exist" in (exc.return_msg or "") or exc.errcode == "20002":
            return []
        raise WeChatPayError(f"WeChat Pay refused the bill: {exc.return_msg or exc.errmsg}") from None
    except requests.RequestException as exc:
        raise WeChatPayError(f"WeChat Pay could not be reached: {exc}") from None
    if not isinstance(text, str):
        raise WeChatPayError("WeChat Pay answered the bill request with XML instead of a bill")
    return parse_bill(text, bill_date)
