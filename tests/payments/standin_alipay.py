"""A local stand-in for Alipay's openapi gateway, speaking its real protocol on 127.0.0.1.

It checks every request's RSA2 signature with the app's public key (SHA256withRSA over the sorted
`k=v` pairs without `sign` and empty values), keeps trades in memory, and answers as the gateway
does: `{"<method_with_underscores>_response": {...}, "sign": "..."}` where `sign` is the stand-in
platform key's signature of the exact JSON text of the response object. It serves the bill zip
(GBK CSV in Alipay's layout) and signs notifies like Alipay's. Independent of the app: it shares no
signing code with portal/ and uses `cryptography`, not the SDK's pycryptodome.
"""
from __future__ import annotations

import base64
import io
import itertools
import json
import threading
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

BEIJING = timezone(timedelta(hours=8))
PID = "2088000000000156"


def rsa2_content(params: dict[str, str], exclude: tuple[str, ...]) -> bytes:
    """The signed string: sorted k=v pairs joined by &, leaving out `exclude` and empty values."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude and v != "").encode()


def rsa2_sign(content: bytes, private_pem: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return base64.b64encode(key.sign(content, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa2_verify(content: bytes, signature: str, public_pem: bytes) -> bool:
    key = serialization.load_pem_public_key(public_pem)
    try:
        key.verify(base64.b64decode(signature, validate=True), content, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def beijing_now() -> str:
    return datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Trade:
    out_trade_no: str
    trade_no: str
    total_amount: str
    subject: str
    notify_url: str
    status: str = "WAIT_BUYER_PAY"
    gmt_create: str = field(default_factory=beijing_now)
    gmt_payment: str = ""
    #: out_request_no -> refund amount (yuan string)
    refunds: dict[str, str] = field(default_factory=dict)


class AlipayStandIn:
    """The gateway: start(), .url, .trades, .calls; pay() a trade; notify_fields() for signed notifies."""

    def __init__(self, app_id: str, app_public_pem: bytes, platform_private_pem: bytes, seller_id: str = PID):
        self.app_id, self.seller_id = app_id, seller_id
        self.app_public_pem, self.platform_private_pem = app_public_pem, platform_private_pem
        self.trades: dict[str, Trade] = {}
        self.calls: list[dict] = []  # every verified request: method and biz_content
        self.bills: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self._seq = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="alipay-standin",
                                       daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base + "/gateway.do"

    def start(self) -> AlipayStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what a payer and Alipay's back office do ---------------------------------------------------

    def pay(self, out_trade_no: str) -> Trade:
        """The payer pays: the trade becomes TRADE_SUCCESS."""
        with self.lock:
            trade = self.trades[out_trade_no]
            trade.status, trade.gmt_payment = "TRADE_SUCCESS", beijing_now()
            return trade

    def open_trade(self, out_trade_no: str, total_amount: str, subject: str = "test", notify_url: str = "") -> Trade:
        with self.lock:
            if out_trade_no not in self.trades:
                trade_no = f"{datetime.now(BEIJING):%Y%m%d}22001{next(self._seq):015d}"
                self.trades[out_trade_no] = Trade(out_trade_no, trade_no, total_amount, subject, notify_url)
            return self.trades[out_trade_no]

    def notify_fields(self, out_trade_no: str, /, key_pem: bytes | None = None, **overrides) -> dict[str, str]:
        """A trade_status_sync notify for a known trade, signed (by the platform key unless another is given)."""
        trade = self.trades[out_trade_no]
        fields = {
            "gmt_create": trade.gmt_create, "charset": "utf-8", "seller_email": "shop@example.com",
            "subject": trade.subject, "sign_type": "RSA2", "buyer_id": "2088102177846880",
            "invoice_amount": trade.total_amount, "notify_id": f"2024{next(self._seq):028d}",
            "fund_bill_list": json.dumps([{"amount": trade.total_amount, "fundChannel": "ALIPAYACCOUNT"}],
                                         separators=(",", ":")),
            "notify_type": "trade_status_sync", "trade_status": trade.status, "receipt_amount": trade.total_amount,
            "app_id": self.app_id, "buyer_pay_amount": trade.total_amount, "seller_id": self.seller_id,
            "gmt_payment": trade.gmt_payment or beijing_now(), "notify_time": beijing_now(), "version": "1.0",
            "out_trade_no": trade.out_trade_no, "total_amount": trade.total_amount, "trade_no": trade.trade_no,
            "auth_app_id": self.app_id, "buyer_logon_id": "158****1562", "point_amount": "0.00",
        }
        fields.update(overrides)
        return self.sign_notify({k: v for k, v in fields.items() if v is not None}, key_pem)

    def sign_notify(self, fields: dict[str, str], key_pem: bytes | None = None) -> dict[str, str]:
        """Sign as Alipay signs notifies: everything but sign and sign_type."""
        fields = {k: v for k, v in fields.items() if k != "sign"}
        fields["sign"] = rsa2_sign(rsa2_content(fields, ("sign", "sign_type")), key_pem or self.platform_private_pem)
        return fields

    def post_notify(self, target_url: str, fields: dict[str, str]) -> tuple[int, str]:
        """POST a notify to an app over HTTP, as Alipay does; (status, body)."""
        request = urllib.request.Request(target_url, data=urlencode(fields).encode(), method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    # --- the gateway ----------------------------------------------------------------------------------

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path.startswith("/bill/"):
                    return self._send(200, standin.bills.get(parts.path[6:], b""), "application/zip")
                self._gateway(dict(parse_qsl(parts.query, keep_blank_values=True)))

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                self._gateway(dict(parse_qsl(body, keep_blank_values=True)))

            def _gateway(self, params: dict[str, str]):
                status, content_type, body = standin.handle(params)
                self._send(status, body, content_type)

            def _send(self, status: int, body: bytes, content_type: str):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def handle(self, params: dict[str, str]) -> tuple[int, str, bytes]:
        """One gateway request: verify the app's signature, then run the method."""
        method = params.get("method", "")
        key = method.replace(".", "_") + "_response"
        if params.get("app_id") != self.app_id:
            return self._unsigned(key, "40002", "isv.invalid-app-id", "无效的AppID参数")
        if params.get("sign_type") != "RSA2" or not rsa2_verify(
                rsa2_content(params, ("sign",)), params.get("sign", ""), self.app_public_pem):
            return self._unsigned(key, "40002", "isv.invalid-signature",
                                  "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配")
        biz = json.loads(params.get("biz_content") or "{}")
        with self.lock:
            self.calls.append({"method": method, "biz": biz, "notify_url": params.get("notify_url", ""),
                               "return_url": params.get("return_url", "")})
        if method == "alipay.trade.wap.pay":
            trade = self.open_trade(biz["out_trade_no"], biz["total_amount"], biz["subject"],
                                    params.get("notify_url", ""))
            page = f"<html><body><h1>支付宝 stand-in</h1><p>{trade.subject} ¥{trade.total_amount}</p></body></html>"
            return 200, "text/html; charset=utf-8", page.encode()
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        if answer is None:
            return self._signed(key, {"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method"})
        response = answer(biz)
        if method == "alipay.trade.precreate" and response.get("code") == "10000":
            self.trades[biz["out_trade_no"]].notify_url = params.get("notify_url", "")
        return self._signed(key, response)

    def _signed(self, key: str, response: dict) -> tuple[int, str, bytes]:
        response.setdefault("msg", "Success" if response.get("code") == "10000" else "Business Failed")
        text = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
        sign = rsa2_sign(text.encode(), self.platform_private_pem)
        return 200, "text/html;charset=utf-8", f'{{"{key}":{text},"sign":"{sign}"}}'.encode()

    @staticmethod
    def _unsigned(key: str, code: str, sub_code: str, sub_msg: str) -> tuple[int, str, bytes]:
        body = {key: {"code": code, "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}}
        return 200, "text/html;charset=utf-8", json.dumps(body, ensure_ascii=False).encode()

    @staticmethod
    def _not_exist() -> dict:
        return {"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在"}

    def _alipay_trade_precreate(self, biz: dict) -> dict:
        amount = biz.get("total_amount", "")
        try:
            valid = Decimal(amount) > 0 and Decimal(amount).as_tuple().exponent >= -2
        except ArithmeticError:
            valid = False
        if not valid:
            return {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter",
                    "sub_msg": "total_amount 格式错误"}
        trade = self.open_trade(biz["out_trade_no"], amount, biz.get("subject", ""))
        return {"code": "10000", "out_trade_no": trade.out_trade_no,
                "qr_code": f"https://qr.alipay.com/bax0{trade.trade_no[-12:]}"}

    def _alipay_trade_query(self, biz: dict) -> dict:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._not_exist()
        answer = {"code": "10000", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
                  "buyer_logon_id": "158****1562", "trade_status": trade.status, "total_amount": trade.total_amount,
                  "buyer_pay_amount": trade.total_amount if trade.gmt_payment else "0.00",
                  "buyer_user_id": "2088102177846880"}
        if trade.gmt_payment:
            answer["send_pay_date"] = trade.gmt_payment
        return answer

    def _alipay_trade_close(self, biz: dict) -> dict:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._not_exist()
        if trade.status != "WAIT_BUYER_PAY":
            return {"code": "40004", "sub_code": "ACQ.TRADE_STATUS_ERROR", "sub_msg": "交易状态不合法"}
        trade.status = "TRADE_CLOSED"
        return {"code": "10000", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}

    def _alipay_trade_refund(self, biz: dict) -> dict:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._not_exist()
        if trade.status not in ("TRADE_SUCCESS", "TRADE_CLOSED") or not trade.gmt_payment:
            return {"code": "40004", "sub_code": "ACQ.TRADE_STATUS_ERROR", "sub_msg": "交易状态不合法"}
        request_no = biz.get("out_request_no") or trade.out_trade_no
        fund_change = "N"
        if request_no not in trade.refunds:
            refunded = sum(Decimal(v) for v in trade.refunds.values())
            if refunded + Decimal(biz["refund_amount"]) > Decimal(trade.total_amount):
                return {"code": "40004", "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "sub_msg": "退款金额超限"}
            trade.refunds[request_no], fund_change = biz["refund_amount"], "Y"
            if refunded + Decimal(biz["refund_amount"]) == Decimal(trade.total_amount):
                trade.status = "TRADE_CLOSED"
        total = sum(Decimal(v) for v in trade.refunds.values())
        return {"code": "10000", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
                "buyer_logon_id": "158****1562", "fund_change": fund_change, "refund_fee": f"{total:.2f}",
                "gmt_refund_pay": beijing_now(), "buyer_user_id": "2088102177846880"}

    def _alipay_trade_fastpay_refund_query(self, biz: dict) -> dict:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._not_exist()
        amount = trade.refunds.get(biz.get("out_request_no", ""))
        if amount is None:
            return {"code": "10000"}  # Alipay answers an unknown refund request with an empty success
        return {"code": "10000", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
                "out_request_no": biz["out_request_no"], "total_amount": trade.total_amount,
                "refund_amount": amount, "refund_status": "REFUND_SUCCESS"}

    def _alipay_data_dataservice_bill_downloadurl_query(self, biz: dict) -> dict:
        day = biz.get("bill_date", "")
        paid = [t for t in self.trades.values() if t.gmt_payment.startswith(day)]
        if not paid:
            return {"code": "40004", "sub_code": "isp.bill_not_exist", "sub_msg": "账单不存在"}
        token = f"{next(self._seq)}.csv.zip"
        self.bills[token] = bill_zip(day, paid, self.seller_id)
        return {"code": "10000", "bill_download_url": f"{self.base}/bill/{token}"}


DETAIL_HEADER = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
                 "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
                 "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")


def bill_zip(day: str, trades: list[Trade], pid: str) -> bytes:
    """The trade bill as Alipay ships it: a zip of two GBK CSV files, cells padded with a tab."""
    compact = day.replace("-", "")
    start = datetime.strptime(day, "%Y-%m-%d")
    lines = ["#支付宝业务明细查询", f"#账号：[{pid}0156]",
             f"#起始日期：[{start:%Y年%m月%d日} 00:00:00]   "
             f"终止日期：[{start + timedelta(days=1):%Y年%m月%d日} 00:00:00]",
             "#-----------------------------------------业务明细列表----------------------------------------",
             DETAIL_HEADER]

    def row(trade: Trade, kind: str, amount: str, received: str, request_no: str = "") -> str:
        cells = [trade.trade_no, trade.out_trade_no, kind, trade.subject, trade.gmt_create, trade.gmt_payment,
                 "", "", "", "", "158****1562", amount, received, "0.00", "0.00", "0.00", "0.00", "0.00", "",
                 "0.00", "0.00", request_no, "-0.01", "0.00", ""]
        return ",".join(f"{c}\t" if c else c for c in cells)

    count = refunds = 0
    for trade in trades:
        lines.append(row(trade, "交易", trade.total_amount, trade.total_amount))
        count += 1
        for request_no, amount in trade.refunds.items():
            lines.append(row(trade, "退款", trade.total_amount, f"-{amount}", request_no))
            refunds += 1
    lines += ["#-----------------------------------------业务明细列表结束------------------------------------",
              f"#交易合计：{count}笔，退款合计：{refunds}笔",
              f"#导出时间：[{datetime.now(BEIJING):%Y年%m月%d日 %H:%M:%S}]"]
    summary = ["#支付宝业务汇总查询", "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）",
               f"合计,,{count},{refunds},0.00,0.00"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{pid}0156_{compact}_业务明细.csv", "\r\n".join(lines).encode("gbk"))
        archive.writestr(f"{pid}0156_{compact}_业务明细(汇总).csv", "\r\n".join(summary).encode("gbk"))
    return buffer.getvalue()
