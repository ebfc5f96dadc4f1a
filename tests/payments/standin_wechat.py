"""A local stand-in for WeChat Pay (API v2 and v3) and the official-account OAuth API, on 127.0.0.1.

It speaks the platforms' wire protocols, implemented here independently of wechatpy and wechatpayv3
(only `cryptography`, `hashlib` and the standard library):
- API v2: XML bodies signed MD5 over the sorted `k=v` pairs plus `&key=API_KEY`; answers signed the
  same way; errors as `return_code`/`result_code` FAIL; refund notifies with `req_info` encrypted
  AES-256-ECB under the MD5 of the API key. (Real v2 refunds need a TLS client certificate; this
  server is plain HTTP, so that part is not emulated.)
- API v3: every request's `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=...,signature=...` checked
  against the merchant's public key; every answer signed with the platform key (微信支付公钥 mode,
  `Wechatpay-Serial` = the public key id); notifies with an AES-256-GCM resource.
- OAuth (snsapi_base): the authorize page redirects straight back with a code; the code exchange
  returns the openid set in `oauth_openid`.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.etree import ElementTree

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

BEIJING = timezone(timedelta(hours=8))
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
_seq = itertools.count(1)


# --- the protocols' primitives ---------------------------------------------------------------------

def md5_sign(params: dict[str, str], api_key: str) -> str:
    """API v2 sign: MD5 of the sorted non-empty k=v pairs (without sign) and &key=, upper-case hex."""
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v not in ("", None))
    return hashlib.md5(f"{text}&key={api_key}".encode()).hexdigest().upper()


def to_xml(params: dict[str, str]) -> bytes:
    """An API v2 document: one CDATA element per field under <xml>."""
    return ("<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in params.items()) + "</xml>").encode()


def from_xml(body: bytes) -> dict[str, str]:
    return {child.tag: child.text or "" for child in ElementTree.fromstring(body)}


def rsa_sign(private_key, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(public_key, message: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message.encode(), padding.PKCS1v15(),
                          hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def gcm_resource(apiv3_key: str, plaintext: str, original_type: str) -> dict:
    """An API v3 notify resource: AES-256-GCM under the APIv3 key, 12-character nonce."""
    nonce = secrets.token_hex(6)
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), plaintext.encode(), original_type.encode())
    return {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM", "ciphertext":
            base64.b64encode(ciphertext).decode(), "associated_data": original_type, "nonce": nonce}


def refund_req_info(api_key: str, plaintext: str) -> str:
    """API v2 refund notify req_info: AES-256-ECB, PKCS#7, key = lower-case MD5 hex of the API key."""
    key = hashlib.md5(api_key.encode()).hexdigest().encode()
    padder = sym_padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def beijing(moment: datetime, fmt: str) -> str:
    return moment.astimezone(BEIJING).strftime(fmt)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


# --- the merchant as the stand-in knows it ---------------------------------------------------------

@dataclass
class Merchant:
    """What WeChat Pay knows about the merchant, and the platform's own key."""

    appid: str
    mchid: str
    api_key: str                  # API v2 key
    apiv3_key: str
    merchant_public_key: object   # of the merchant's API certificate (checks Authorization)
    merchant_serial: str
    platform_private_key: object  # signs answers and notifies
    platform_key_id: str
    app_secret: str = "standin-app-secret"


@dataclass
class Trade:
    out_trade_no: str
    total: int
    api: str                       # v2 or v3
    trade_type: str
    notify_url: str
    description: str
    openid: str = ""
    state: str = "NOTPAY"
    transaction_id: str = ""
    prepay_id: str = ""
    code_url: str = ""
    paid_at: datetime | None = None
    refunds: list[dict] = field(default_factory=list)


class WeChatStandIn:
    """WeChat Pay v2 + v3 and the OAuth API on one local HTTP server."""

    def __init__(self, merchant: Merchant):
        self.m = merchant
        self.trades: dict[str, Trade] = {}
        self.codes: dict[str, str] = {}
        self.bill_tokens: dict[str, date] = {}
        #: the openid the authorize page hands out
        self.oauth_openid = "o-standin-" + secrets.token_hex(6)
        #: misbehaviours to check the client's guard: v2 answers signed with another key, a wrong bill hash
        self.v2_answer_key: str | None = None
        self.bill_hash_wrong = False
        #: every request as "METHOD path", and every refusal of a request's signature
        self.calls: list[str] = []
        self.auth_failures: list[str] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="wechat-standin", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> WeChatStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what happens on the payer's phone ---

    def pay(self, out_trade_no: str, openid: str = "o-payer-1") -> Trade:
        """The payer pays: the trade becomes SUCCESS with a transaction id."""
        with self.lock:
            trade = self.trades[out_trade_no]
            trade.state, trade.openid = "SUCCESS", trade.openid or openid
            trade.transaction_id = f"4200{next(_seq):06d}{secrets.randbelow(10**18):018d}"
            trade.paid_at = datetime.now(UTC)
            return trade

    def refund_succeeds(self, out_refund_no: str) -> dict:
        """The refund reaches the payer."""
        with self.lock:
            for trade in self.trades.values():
                for refund in trade.refunds:
                    if refund["out_refund_no"] == out_refund_no:
                        refund.update(status="SUCCESS", success_at=datetime.now(UTC))
                        return refund
        raise KeyError(out_refund_no)

    def deliver_notify(self, out_trade_no: str) -> tuple[int, bytes]:
        """POST the trade's payment notify to its notify_url, in the protocol of the API that created it."""
        trade = self.trades[out_trade_no]
        if trade.api == "v2":
            body, headers = self.v2_payment_notify(out_trade_no), {"Content-Type": "text/xml"}
        else:
            body, headers = self.v3_notify(self.v3_transaction(out_trade_no))
        request = urllib.request.Request(trade.notify_url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    # --- notifies, signed as the platform signs them ---

    def v2_payment_notify(self, out_trade_no: str, /, total: int | None = None, key: str | None = None,
                          sign: str | bool = True, **overrides) -> bytes:
        """A v2 payment notify; an override of None drops that field; sign=False leaves the sign out."""
        trade = self.trades.get(out_trade_no)
        total = total if total is not None else trade.total
        paid_at = trade.paid_at if trade and trade.paid_at else datetime.now(UTC)
        fields = {
            "appid": self.m.appid, "bank_type": "OTHERS", "cash_fee": str(total), "fee_type": "CNY",
            "is_subscribe": "N", "mch_id": self.m.mchid, "nonce_str": secrets.token_hex(16),
            "openid": (trade.openid if trade else "") or "o-payer-1", "out_trade_no": out_trade_no,
            "result_code": "SUCCESS", "return_code": "SUCCESS", "time_end": beijing(paid_at, "%Y%m%d%H%M%S"),
            "total_fee": str(total), "trade_type": trade.trade_type if trade else "NATIVE",
            "transaction_id": (trade.transaction_id if trade else "") or f"4200{secrets.randbelow(10**20):020d}",
        }
        fields.update(overrides)
        fields = {k: v for k, v in fields.items() if v is not None}
        if sign is True:
            fields["sign"] = md5_sign(fields, key or self.m.api_key)
        elif sign:
            fields["sign"] = sign
        return to_xml(fields)

    def v2_refund_notify(self, out_trade_no: str, out_refund_no: str, refund_fee: int, status: str = "SUCCESS",
                         key: str | None = None, **outer) -> bytes:
        """A v2 refund notify: the details in req_info, encrypted under the MD5 of the API key."""
        trade = self.trades.get(out_trade_no)
        info = {"out_refund_no": out_refund_no, "out_trade_no": out_trade_no,
                "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS", "refund_fee": str(refund_fee),
                "refund_id": f"5030{secrets.randbelow(10**20):020d}", "refund_recv_accout": "支付用户零钱",
                "refund_request_source": "API", "refund_status": status,
                "settlement_refund_fee": str(refund_fee), "settlement_total_fee": str(trade.total if trade else 0),
                "success_time": beijing(datetime.now(UTC), "%Y-%m-%d %H:%M:%S"),
                "total_fee": str(trade.total if trade else 0),
                "transaction_id": trade.transaction_id if trade else ""}
        plain = "<root>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in info.items()) + "</root>"
        fields = {"return_code": "SUCCESS", "appid": self.m.appid, "mch_id": self.m.mchid,
                  "nonce_str": secrets.token_hex(16), "req_info": refund_req_info(key or self.m.api_key, plain)}
        fields.update(outer)
        return to_xml(fields)

    def v3_transaction(self, out_trade_no: str, /, total: int | None = None, **overrides) -> dict:
        """The decrypted resource of a v3 TRANSACTION.SUCCESS notify (what the query also answers)."""
        trade = self.trades.get(out_trade_no)
        amount = total if total is not None else trade.total
        paid_at = trade.paid_at if trade and trade.paid_at else datetime.now(UTC)
        resource = {
            "mchid": self.m.mchid, "appid": self.m.appid, "out_trade_no": out_trade_no,
            "transaction_id": (trade.transaction_id if trade else "") or f"4200{secrets.randbelow(10**20):020d}",
            "trade_type": trade.trade_type if trade else "NATIVE", "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
            "success_time": paid_at.astimezone(BEIJING).isoformat(timespec="seconds"),
            "payer": {"openid": (trade.openid if trade else "") or "o-payer-1"},
            "amount": {"total": amount, "payer_total": amount, "currency": "CNY", "payer_currency": "CNY"},
        }
        resource.update(overrides)
        return {k: v for k, v in resource.items() if v is not None}

    def v3_refund_resource(self, out_trade_no: str, out_refund_no: str, refund: int, status: str = "SUCCESS",
                           **overrides) -> dict:
        trade = self.trades.get(out_trade_no)
        total = trade.total if trade else refund
        resource = {"mchid": self.m.mchid, "out_trade_no": out_trade_no,
                    "transaction_id": trade.transaction_id if trade else "", "out_refund_no": out_refund_no,
                    "refund_id": f"5030{secrets.randbelow(10**20):020d}", "refund_status": status,
                    "success_time": datetime.now(BEIJING).isoformat(timespec="seconds"),
                    "user_received_account": "支付用户零钱",
                    "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund}}
        resource.update(overrides)
        return resource

    def v3_notify(self, resource: dict | str, event_type: str = "TRANSACTION.SUCCESS", *,
                  apiv3_key: str | None = None, **sign_kwargs) -> tuple[bytes, dict[str, str]]:
        """A v3 notify body (resource encrypted) and its signed headers."""
        original_type = "refund" if event_type.startswith("REFUND.") else "transaction"
        plain = resource if isinstance(resource, str) else json.dumps(resource, ensure_ascii=False)
        doc = {"id": str(uuid.uuid4()), "create_time": datetime.now(BEIJING).isoformat(timespec="seconds"),
               "resource_type": "encrypt-resource", "event_type": event_type,
               "summary": "支付成功" if original_type == "transaction" else "退款成功",
               "resource": gcm_resource(apiv3_key or self.m.apiv3_key, plain, original_type)}
        body = json.dumps(doc, ensure_ascii=False).encode()
        return body, self.v3_sign(body, **sign_kwargs)

    def v3_sign(self, body: bytes, timestamp: int | None = None, nonce: str | None = None, key=None,
                serial: str | None = None) -> dict[str, str]:
        """Wechatpay-* headers: RSA-SHA256 over "timestamp\\nnonce\\nbody\\n" with the platform key."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(16)
        signature = rsa_sign(key or self.m.platform_private_key, f"{stamp}\n{nonce}\n{body.decode()}\n")
        return {"Content-Type": "application/json", "Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": signature, "Wechatpay-Serial": serial or self.m.platform_key_id,
                "Wechatpay-Signature-Type": SIGNATURE_TYPE}

    # --- the HTTP side ---

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def _serve(self, method: str):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                standin.calls.append(f"{method} {self.path}")
                status, headers, payload = standin.route(method, self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def route(self, method: str, target: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        path = urlsplit(target).path
        if path.startswith("/v3/"):
            return self._v3(method, target, headers, body)
        if path.startswith(("/connect/", "/sns/")):
            return self._oauth(target)
        if method == "POST" and path in V2_ROUTES:
            return self._v2(path, body)
        return 404, {"Content-Type": "text/plain"}, b"not found"

    # --- API v2 ---

    def _v2(self, path: str, body: bytes) -> tuple[int, dict, bytes]:
        try:
            params = from_xml(body)
        except ElementTree.ParseError:
            return self._v2_fail("XML格式错误")
        if params.get("sign_type", "MD5") != "MD5" or params.get("sign") != md5_sign(params, self.m.api_key):
            self.auth_failures.append(f"v2 {path}: sign")
            return self._v2_fail("签名错误")
        if params.get("mch_id") != self.m.mchid or params.get("appid") != self.m.appid:
            return self._v2_fail("appid和mch_id不匹配")
        with self.lock:
            answer = getattr(self, V2_ROUTES[path])(params)
        if isinstance(answer, str):  # the bill: plain text, unsigned
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, answer.encode()
        if answer.get("return_code") == "FAIL":
            return self._v2_fail(answer["return_msg"])
        answer = {"return_code": "SUCCESS", "return_msg": "OK", "appid": self.m.appid, "mch_id": self.m.mchid,
                  "nonce_str": secrets.token_hex(16), "result_code": "SUCCESS", **answer}
        answer["sign"] = md5_sign(answer, self.v2_answer_key or self.m.api_key)
        return 200, {"Content-Type": "text/xml; charset=utf-8"}, to_xml(answer)

    @staticmethod
    def _v2_fail(message: str) -> tuple[int, dict, bytes]:
        return 200, {"Content-Type": "text/xml"}, to_xml({"return_code": "FAIL", "return_msg": message})

    @staticmethod
    def _v2_error(code: str, text: str) -> dict:
        return {"result_code": "FAIL", "err_code": code, "err_code_des": text}

    def _v2_unifiedorder(self, p: dict) -> dict:
        needed = ["body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"]
        needed += {"JSAPI": ["openid"], "NATIVE": ["product_id"]}.get(p.get("trade_type"), ["trade_type!"])
        absent = [name for name in needed if not p.get(name)]
        if absent or not p["total_fee"].isdigit() or int(p["total_fee"]) <= 0:
            return self._v2_error("PARAM_ERROR", f"参数错误: {absent or 'total_fee'}")
        trade = self.trades.get(p["out_trade_no"])
        if trade and trade.state == "SUCCESS":
            return self._v2_error("ORDERPAID", "该订单已支付")
        if trade and trade.total != int(p["total_fee"]):
            return self._v2_error("INVALID_REQUEST", "201 商户订单号重复")
        if trade is None:
            trade = self.trades[p["out_trade_no"]] = Trade(
                p["out_trade_no"], int(p["total_fee"]), "v2", p["trade_type"], p["notify_url"], p["body"],
                openid=p.get("openid", ""), prepay_id=f"wx{secrets.token_hex(14)}",
                code_url=f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}")
        answer = {"trade_type": trade.trade_type, "prepay_id": trade.prepay_id}
        if trade.trade_type == "NATIVE":
            answer["code_url"] = trade.code_url
        return answer

    def _v2_orderquery(self, p: dict) -> dict:
        trade = self.trades.get(p.get("out_trade_no", ""))
        if trade is None:
            return self._v2_error("ORDERNOTEXIST", "订单不存在")
        answer = {"out_trade_no": trade.out_trade_no, "trade_state": trade.state, "total_fee": str(trade.total),
                  "trade_type": trade.trade_type, "fee_type": "CNY", "trade_state_desc": trade.state}
        if trade.paid_at:
            answer.update(transaction_id=trade.transaction_id, openid=trade.openid, cash_fee=str(trade.total),
                          bank_type="OTHERS", is_subscribe="N", time_end=beijing(trade.paid_at, "%Y%m%d%H%M%S"))
        return answer

    def _v2_closeorder(self, p: dict) -> dict:
        trade = self.trades.get(p.get("out_trade_no", ""))
        if trade is not None and trade.state in ("SUCCESS", "REFUND"):
            return self._v2_error("ORDERPAID", "订单已支付")
        if trade is not None:
            trade.state = "CLOSED"
        return {}

    def _v2_refund(self, p: dict) -> dict:
        trade = self.trades.get(p.get("out_trade_no", ""))
        if trade is None:
            return self._v2_error("ORDERNOTEXIST", "订单不存在")
        try:
            refund, total = int(p["refund_fee"]), int(p["total_fee"])
        except (KeyError, ValueError):
            return self._v2_error("PARAM_ERROR", "参数错误")
        if trade.state not in ("SUCCESS", "REFUND") or total != trade.total:
            return self._v2_error("INVALID_REQUEST", "订单状态或金额不符")
        entry = self._add_refund(trade, p.get("out_refund_no", ""), refund)
        if isinstance(entry, str):
            return self._v2_error("INVALID_REQUEST", entry)
        return {"transaction_id": trade.transaction_id, "out_trade_no": trade.out_trade_no,
                "out_refund_no": entry["out_refund_no"], "refund_id": entry["refund_id"], "refund_fee": str(refund),
                "total_fee": str(trade.total), "cash_fee": str(trade.total), "refund_channel": ""}

    def _v2_downloadbill(self, p: dict) -> dict | str:
        try:
            day = datetime.strptime(p.get("bill_date", ""), "%Y%m%d").date()
        except ValueError:
            return {"return_code": "FAIL", "return_msg": "invalid bill_date"}
        text = self.bill_text(day)
        return text if text is not None else {"return_code": "FAIL", "return_msg": "No Bill Exist"}

    def _add_refund(self, trade: Trade, out_refund_no: str, refund: int) -> dict | str:
        for entry in trade.refunds:
            if entry["out_refund_no"] == out_refund_no:
                return entry  # the same refund number refunds once
        if not out_refund_no or refund <= 0 or refund > trade.total - sum(r["refund"] for r in trade.refunds):
            return "退款金额大于可退金额"
        entry = {"out_refund_no": out_refund_no, "refund_id": f"5030{secrets.randbelow(10**20):020d}",
                 "refund": refund, "status": "PROCESSING", "success_at": None}
        trade.refunds.append(entry)
        trade.state = "REFUND"
        return entry

    # --- API v3 ---

    def _v3(self, method: str, target: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        problem = self._v3_authorization(method, target, headers, body)
        if problem:
            self.auth_failures.append(f"v3 {target}: {problem}")
            return self._v3_answer(401, {"code": "SIGN_ERROR", "message": problem})
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return self._v3_answer(400, {"code": "PARAM_ERROR", "message": "body is not JSON"})
        path = parts.path
        with self.lock:
            if method == "POST" and path in ("/v3/pay/transactions/native", "/v3/pay/transactions/jsapi"):
                return self._v3_order(path.rsplit("/", 1)[1].upper(), data)
            match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)(/close)?", path)
            if match and method == "GET" and not match.group(2):
                return self._v3_query(match.group(1), query)
            if match and method == "POST" and match.group(2):
                return self._v3_close(match.group(1), data)
            if method == "POST" and path == "/v3/refund/domestic/refunds":
                return self._v3_refund(data)
            if method == "GET" and path == "/v3/bill/tradebill":
                return self._v3_tradebill(query)
            if method == "GET" and path == "/v3/billdownload/file":
                return self._v3_download(query)
        return self._v3_answer(404, {"code": "NOT_FOUND", "message": "no such API"})

    def _v3_authorization(self, method: str, target: str, headers: dict, body: bytes) -> str | None:
        scheme, _, rest = (headers.get("Authorization") or "").partition(" ")
        if scheme != SIGNATURE_TYPE:
            return "Authorization scheme is not WECHATPAY2-SHA256-RSA2048"
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if params.get("mchid") != self.m.mchid:
            return "mchid does not match"
        if params.get("serial_no") != self.m.merchant_serial:
            return "serial_no is not the merchant certificate's"
        if not params.get("timestamp", "").isdigit() or abs(time.time() - int(params["timestamp"])) > 300:
            return "timestamp out of range"
        if headers.get("Wechatpay-Serial", self.m.platform_key_id) != self.m.platform_key_id:
            return "Wechatpay-Serial is not our public key id"
        message = f"{method}\n{target}\n{params['timestamp']}\n{params.get('nonce_str', '')}\n{body.decode()}\n"
        if not rsa_verify(self.m.merchant_public_key, message, params.get("signature", "")):
            return "signature does not verify with the merchant certificate"
        return None

    def _v3_answer(self, status: int, data: dict | None, raw: bytes | None = None,
                   content_type: str = "application/json; charset=utf-8") -> tuple[int, dict, bytes]:
        body = raw if raw is not None else (json.dumps(data, ensure_ascii=False).encode() if data is not None
                                            else b"")
        headers = {"Content-Type": content_type, "Request-ID": str(uuid.uuid4())}
        if raw is None:  # bill files come unsigned, checked by their hash instead
            signed = self.v3_sign(body)
            signed.pop("Content-Type")
            headers.update(signed)
        return status, headers, body

    def _v3_order(self, trade_type: str, d: dict) -> tuple[int, dict, bytes]:
        amount = d.get("amount") if isinstance(d.get("amount"), dict) else {}
        total = amount.get("total")
        openid = (d.get("payer") or {}).get("openid", "") if isinstance(d.get("payer"), dict) else ""
        if (d.get("appid") != self.m.appid or d.get("mchid") != self.m.mchid or type(total) is not int
                or total <= 0 or not d.get("out_trade_no") or not d.get("description") or not d.get("notify_url")
                or (trade_type == "JSAPI" and not openid)):
            return self._v3_answer(400, {"code": "PARAM_ERROR", "message": "参数错误"})
        trade = self.trades.get(d["out_trade_no"])
        if trade and trade.state == "SUCCESS":
            return self._v3_answer(403, {"code": "ORDERPAID", "message": "该订单已支付"})
        if trade is None:
            trade = self.trades[d["out_trade_no"]] = Trade(
                d["out_trade_no"], total, "v3", trade_type, d["notify_url"], d["description"], openid=openid,
                prepay_id=f"wx{secrets.token_hex(14)}",
                code_url=f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}")
        if trade_type == "NATIVE":
            return self._v3_answer(200, {"code_url": trade.code_url})
        return self._v3_answer(200, {"prepay_id": trade.prepay_id})

    def _v3_query(self, out_trade_no: str, query: dict) -> tuple[int, dict, bytes]:
        trade = self.trades.get(out_trade_no)
        if query.get("mchid") != self.m.mchid:
            return self._v3_answer(400, {"code": "PARAM_ERROR", "message": "mchid"})
        if trade is None:
            return self._v3_answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
        data = {"appid": self.m.appid, "mchid": self.m.mchid, "out_trade_no": out_trade_no,
                "trade_state": trade.state, "trade_state_desc": trade.state,
                "amount": {"total": trade.total, "currency": "CNY"}}
        if trade.paid_at:
            data = self.v3_transaction(out_trade_no, trade_state=trade.state)
        return self._v3_answer(200, data)

    def _v3_close(self, out_trade_no: str, d: dict) -> tuple[int, dict, bytes]:
        trade = self.trades.get(out_trade_no)
        if d.get("mchid") != self.m.mchid:
            return self._v3_answer(400, {"code": "PARAM_ERROR", "message": "mchid"})
        if trade is not None and trade.state in ("SUCCESS", "REFUND"):
            return self._v3_answer(400, {"code": "ORDERPAID", "message": "订单已支付"})
        if trade is not None:
            trade.state = "CLOSED"
        return self._v3_answer(204, None)

    def _v3_refund(self, d: dict) -> tuple[int, dict, bytes]:
        trade = self.trades.get(d.get("out_trade_no", ""))
        amount = d.get("amount") if isinstance(d.get("amount"), dict) else {}
        if trade is None:
            return self._v3_answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"})
        if (type(amount.get("refund")) is not int or amount.get("total") != trade.total
                or amount.get("currency") != "CNY" or trade.state not in ("SUCCESS", "REFUND")):
            return self._v3_answer(400, {"code": "PARAM_ERROR", "message": "金额或订单状态不符"})
        entry = self._add_refund(trade, d.get("out_refund_no", ""), amount["refund"])
        if isinstance(entry, str):
            return self._v3_answer(403, {"code": "NOT_ENOUGH", "message": entry})
        return self._v3_answer(200, {
            "refund_id": entry["refund_id"], "out_refund_no": entry["out_refund_no"],
            "transaction_id": trade.transaction_id, "out_trade_no": trade.out_trade_no, "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱", "create_time": datetime.now(BEIJING).isoformat(timespec="seconds"),
            "status": entry["status"], "funds_account": "AVAILABLE",
            "amount": {"total": trade.total, "refund": entry["refund"], "payer_total": trade.total,
                       "payer_refund": entry["refund"], "settlement_total": trade.total,
                       "settlement_refund": entry["refund"], "discount_refund": 0, "currency": "CNY"}})

    def _v3_tradebill(self, query: dict) -> tuple[int, dict, bytes]:
        try:
            day = date.fromisoformat(query.get("bill_date", ""))
        except ValueError:
            return self._v3_answer(400, {"code": "PARAM_ERROR", "message": "bill_date"})
        text = self.bill_text(day)
        if text is None:
            return self._v3_answer(400, {"code": "NO_STATEMENT_EXIST", "message": "账单文件不存在"})
        token = secrets.token_urlsafe(12)
        self.bill_tokens[token] = day
        digest = hashlib.sha1((text + " " * self.bill_hash_wrong).encode()).hexdigest()
        return self._v3_answer(200, {"hash_type": "SHA1", "hash_value": digest,
                                     "download_url": f"{self.url}/v3/billdownload/file?token={token}"})

    def _v3_download(self, query: dict) -> tuple[int, dict, bytes]:
        day = self.bill_tokens.get(query.get("token", ""))
        if day is None:
            return self._v3_answer(400, {"code": "PARAM_ERROR", "message": "token"})
        text = self.bill_text(day) or ""
        return self._v3_answer(200, None, raw=gzip.compress(text.encode()), content_type="application/octet-stream")

    # --- the daily bill ---

    def bill_text(self, day: date) -> str | None:
        """The trade bill of a Beijing day in WeChat's layout (same for v2 and v3); None when empty."""
        lines = []
        for t in self.trades.values():
            if t.paid_at and t.paid_at.astimezone(BEIJING).date() == day:
                lines.append(bill_row(self.m, t, t.paid_at, "SUCCESS"))
            for r in t.refunds:
                if r["success_at"] and r["success_at"].astimezone(BEIJING).date() == day:
                    lines.append(bill_row(self.m, t, r["success_at"], "REFUND", r))
        if not lines:
            return None
        paid = sum(t.total for t in self.trades.values() if t.paid_at)
        return "\r\n".join([BILL_HEADER, *lines, BILL_SUMMARY_HEADER,
                            f"`{len(lines)},`{yuan(paid)},`0.00,`0.00,`0.00000,`{yuan(paid)},`0.00"]) + "\r\n"

    # --- OAuth (official account 网页授权) ---

    def _oauth(self, target: str) -> tuple[int, dict, bytes]:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        if parts.path == "/connect/oauth2/authorize":
            if query.get("appid") != self.m.appid or query.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
                return 400, {"Content-Type": "text/plain"}, b"bad appid or scope"
            code = secrets.token_urlsafe(12)
            self.codes[code] = self.oauth_openid
            uri = query.get("redirect_uri", "")
            back = uri + ("&" if "?" in uri else "?") + urlencode({"code": code, "state": query.get("state", "")})
            return 302, {"Location": back}, b""
        if parts.path == "/sns/oauth2/access_token":
            if query.get("appid") != self.m.appid or query.get("secret") != self.m.app_secret:
                return self._json(200, {"errcode": 40125, "errmsg": "invalid appsecret"})
            openid = self.codes.pop(query.get("code", ""), None)  # a code is good once
            if openid is None or query.get("grant_type") != "authorization_code":
                return self._json(200, {"errcode": 40029, "errmsg": "invalid code"})
            return self._json(200, {"access_token": secrets.token_urlsafe(24), "expires_in": 7200,
                                    "refresh_token": secrets.token_urlsafe(24), "openid": openid,
                                    "scope": "snsapi_base"})
        return 404, {"Content-Type": "text/plain"}, b"not found"

    @staticmethod
    def _json(status: int, data: dict) -> tuple[int, dict, bytes]:
        return status, {"Content-Type": "application/json; encoding=utf-8"}, json.dumps(data).encode()


V2_ROUTES = {"/pay/unifiedorder": "_v2_unifiedorder", "/pay/orderquery": "_v2_orderquery",
             "/pay/closeorder": "_v2_closeorder", "/secapi/pay/refund": "_v2_refund",
             "/pay/downloadbill": "_v2_downloadbill"}
BILL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
               "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
               "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
BILL_SUMMARY_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


def bill_row(m: Merchant, t: Trade, moment: datetime, state: str, refund: dict | None = None) -> str:
    """One detail line: every field prefixed with a backtick, amounts in yuan."""
    refunded = refund["refund"] if refund else 0
    fields = [beijing(moment, "%Y-%m-%d %H:%M:%S"), m.appid, m.mchid, "0", "", t.transaction_id, t.out_trade_no,
              t.openid, t.trade_type, state, "OTHERS", "CNY", yuan(t.total if not refund else 0), "0.00",
              refund["refund_id"] if refund else "0", refund["out_refund_no"] if refund else "0", yuan(refunded),
              "0.00", "ORIGINAL" if refund else "", "SUCCESS" if refund else "",
              # a comma inside a value, as product names have: the bill's separator is ",`"
              f"{t.description}, 电费", "", "0.00600", "0.60%", yuan(t.total), yuan(refunded), ""]
    return ",".join(f"`{f}" for f in fields)
