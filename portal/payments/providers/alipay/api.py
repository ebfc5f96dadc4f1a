"""Alipay through python-alipay-sdk: settings, the wap and QR starters, query, close, refund, bills.

Notifies are verified in `alipay.notify`; `alipay.provider` offers these calls to the registry.

Money leaves as a yuan string made from integer fen ("12.34") and comes back through `yuan_to_fen`,
which accepts only plain decimals with at most two places. The SDK signs requests with the app key
and checks every gateway answer against Alipay's public key; it fetches with urllib (no `requests`)
from `self._gateway`, which `GatewayAliPay` sets from ALIPAY_GATEWAY — so a stand-in gateway on
127.0.0.1 speaking the same protocol exercises exactly the production code.
"""
from __future__ import annotations

import csv
import io
import logging
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen
from zoneinfo import ZoneInfo

import qrcode
import qrcode.image.svg
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig
from Cryptodome.PublicKey import RSA

from portal import settings
from portal.models import PaymentOrder
from portal.money import fen_to_yuan, yuan_to_fen
from portal.payments.notify import VerifiedPayment
from portal.payments.providers.base import BillRow, ChannelUnavailable, PayData
from portal.settings import AlipaySettings, public_url

log = logging.getLogger(__name__)

PRODUCTION_GATEWAY = AlipaySettings.PRODUCTION_GATEWAY

SUCCESS_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
#: Alipay writes every time in Beijing time, whatever TZ_BUSINESS says
ALIPAY_TZ = ZoneInfo("Asia/Shanghai")
BILL_LIMIT = 64 * 1024 * 1024


class AlipayConfigError(ChannelUnavailable):
    """ALIPAY_* point at key files that cannot be read or are not RSA keys."""


class AlipayError(Exception):
    """The gateway could not be reached, answered with a bad signature, or refused the request."""

    def __init__(self, message: str, code: str = "", sub_code: str = ""):
        super().__init__(message)
        self.code, self.sub_code = code, sub_code


def beijing_time(text: str | None) -> datetime | None:
    """An Alipay time ("2026-03-01 10:00:00", Beijing) as aware UTC; None when absent or unreadable."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ALIPAY_TZ).astimezone(UTC) \
            if text else None
    except ValueError:
        return None


# --- settings and client ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AlipayConfig:
    """One merchant identity: who we are to Alipay and how answers are verified."""

    app_id: str
    app_private_key: str
    alipay_public_key: str
    seller_id: str | None
    gateway: str
    #: the demo sandbox's self-made keys (portal.payments.providers.sandbox), never a real merchant
    sandbox: bool = False


def missing() -> list[str]:
    """The ALIPAY_* variables still unset (empty when the channel is configured)."""
    return settings.current().alipay.missing()


def config() -> AlipayConfig:
    """The configured merchant; key files are read once per distinct setting."""
    if missing():
        raise ChannelUnavailable(f"Alipay is not configured: set {', '.join(missing())}")
    s = settings.current().alipay
    return _load(s.app_id, s.app_private_key_file, s.public_key_file, s.seller_id, s.gateway)


@lru_cache(maxsize=8)
def _load(app_id, private_file, public_file, seller_id, gateway) -> AlipayConfig:
    return AlipayConfig(app_id, read_key("ALIPAY_APP_PRIVATE_KEY_FILE", private_file, private=True),
                        read_key("ALIPAY_PUBLIC_KEY_FILE", public_file, private=False), seller_id, gateway)


def read_key(variable: str, path: str, private: bool) -> str:
    """A PEM key from a file; bare base64 as Alipay's key tool prints it is wrapped in PEM armour."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AlipayConfigError(f"{variable}: cannot read {path}: {exc}") from None
    if "-----BEGIN" not in text:
        body = "\n".join(text[i:i + 64] for i in range(0, len(text), 64))
        label = "PRIVATE KEY" if private else "PUBLIC KEY"
        text = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"
    try:
        key = RSA.import_key(text)
    except (ValueError, IndexError, TypeError):
        raise AlipayConfigError(f"{variable}: {path} is not an RSA {'private' if private else 'public'} key") from None
    if key.has_private() != private:
        raise AlipayConfigError(f"{variable}: {path} holds a {'public' if private else 'private'} key, "
                                f"expected the {'app private' if private else 'Alipay public'} key")
    return text


class GatewayAliPay(AliPay):
    """The SDK's client, pointed at a chosen gateway (the SDK itself knows only production and its sandbox)."""

    def __init__(self, cfg: AlipayConfig, timeout: int = 10):
        super().__init__(appid=cfg.app_id, app_private_key_string=cfg.app_private_key,
                         alipay_public_key_string=cfg.alipay_public_key, sign_type="RSA2",
                         config=AliPayConfig(timeout=timeout))
        self._gateway = cfg.gateway


def client(cfg: AlipayConfig | None = None) -> GatewayAliPay:
    """The SDK client for a merchant (the configured one by default)."""
    return _client(cfg or config())


@lru_cache(maxsize=8)
def _client(cfg: AlipayConfig) -> GatewayAliPay:
    return GatewayAliPay(cfg)  # parses both keys: once per merchant setting, not per request


def _call(api, *args, **kwargs) -> dict:
    """Run one SDK gateway call; transport and signature trouble becomes AlipayError."""
    try:
        return api(*args, **kwargs)
    except AliPayValidationError:
        raise AlipayError("the gateway's answer failed Alipay signature verification") from None
    except AliPayException as exc:
        # Unsigned answers (error_response, bad app signature): the SDK hides the code in a private field.
        code = str(getattr(exc, "_AliPayException__code", "") or "")
        raise AlipayError(f"the gateway refused the request: {str(exc)[:200]}", code) from None
    except (URLError, OSError) as exc:
        raise AlipayError(f"the Alipay gateway is unreachable: {exc}") from None
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise AlipayError(f"the gateway's answer is not Alipay's format: {exc!r}"[:300]) from None


def _ok(answer: dict, what: str) -> dict:
    if answer.get("code") != "10000":
        raise AlipayError(f"{what}: {answer.get('sub_code') or answer.get('code')} "
                          f"{answer.get('sub_msg') or answer.get('msg') or ''}".strip(),
                          answer.get("code", ""), answer.get("sub_code", ""))
    return answer


# --- starting a payment -----------------------------------------------------------------------------

def _trade_fields(order: PaymentOrder) -> dict:
    return {"subject": f"先付充值 {order.account.code}", "out_trade_no": order.out_trade_no,
            "total_amount": fen_to_yuan(order.amount_fen),
            "time_expire": order.expires_at.astimezone(ALIPAY_TZ).strftime("%Y-%m-%d %H:%M:%S")}


def start_wap(order: PaymentOrder, context: dict) -> PayData:
    """Mobile-browser payment: a signed gateway URL the payer opens (no server call until then)."""
    cfg = config()
    back = context.get("return_url") or public_url(f"/t/orders/{order.out_trade_no}")
    query = client(cfg).api_alipay_trade_wap_pay(return_url=back, notify_url=public_url("/pay/alipay/notify"),
                                                 quit_url=back, **_trade_fields(order))
    return {"pay_url": f"{cfg.gateway}?{query}"}


def start_qr(order: PaymentOrder, context: dict) -> PayData:
    """Face-to-face precreate: Alipay returns the QR content; an SVG of it is rendered here."""
    try:
        answer = _ok(_call(client().api_alipay_trade_precreate, notify_url=public_url("/pay/alipay/notify"),
                           **_trade_fields(order)), "precreate")
    except AlipayError as exc:
        raise ChannelUnavailable(f"Alipay could not start the payment: {exc}") from None
    return {"qr_code": answer["qr_code"], "qr_svg": qr_svg(answer["qr_code"])}


def qr_svg(content: str) -> str:
    """The QR code as an inline SVG document."""
    return qrcode.make(content, image_factory=qrcode.image.svg.SvgPathImage).to_string(encoding="unicode")


# --- asking the gateway -------------------------------------------------------------------------------

def query_trade(out_trade_no: str) -> VerifiedPayment | None:
    """alipay.trade.query: what Alipay knows of an order (None when it never saw it)."""
    answer = _call(client().api_alipay_trade_query, out_trade_no=out_trade_no)
    if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
        return None
    _ok(answer, "query")
    return VerifiedPayment(
        source="query", out_trade_no=answer["out_trade_no"], platform_trade_no=answer.get("trade_no", ""),
        amount_fen=yuan_to_fen(answer["total_amount"]), success=answer.get("trade_status") in SUCCESS_STATUSES,
        payer=answer.get("buyer_user_id") or answer.get("buyer_open_id") or "",
        paid_at=beijing_time(answer.get("send_pay_date")),
    )


def close_trade(out_trade_no: str) -> bool:
    """alipay.trade.close: True when the trade is closed or Alipay never opened it; False once paid."""
    answer = _call(client().api_alipay_trade_close, out_trade_no=out_trade_no)
    if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
        return True  # the payer never scanned or opened it: nothing can be paid on it any more
    if answer.get("sub_code") == "ACQ.TRADE_STATUS_ERROR":
        return False
    _ok(answer, "close")
    return True


@dataclass(frozen=True)
class RefundResult:
    """Alipay's answer to a refund request."""

    ok: bool
    #: refunded on this trade so far, all requests together (Alipay's refund_fee)
    refunded_fen: int = 0
    #: "Y" when money moved on this call; "N" also for a repeated request that had already succeeded
    fund_change: bool = False
    platform_trade_no: str = ""
    error_code: str = ""
    error: str = ""


def refund(out_trade_no: str, out_refund_no: str, amount_fen: int, reason: str) -> RefundResult:
    """alipay.trade.refund: send money back; the same out_refund_no never refunds twice."""
    answer = _call(client().api_alipay_trade_refund, refund_amount=fen_to_yuan(amount_fen),
                   out_trade_no=out_trade_no, out_request_no=out_refund_no, refund_reason=reason[:256])
    if answer.get("code") != "10000":
        return RefundResult(False, error_code=answer.get("sub_code") or answer.get("code", ""),
                            error=answer.get("sub_msg") or answer.get("msg", ""))
    return RefundResult(True, yuan_to_fen(answer.get("refund_fee", "0")), answer.get("fund_change") == "Y",
                        answer.get("trade_no", ""))


def query_refund(out_trade_no: str, out_refund_no: str) -> bool:
    """alipay.trade.fastpay.refund.query: True when that refund request has succeeded."""
    answer = _ok(_call(client().api_alipay_trade_fastpay_refund_query, out_refund_no, out_trade_no=out_trade_no),
                 "refund query")
    return bool(answer.get("refund_amount")) and answer.get("refund_status", "REFUND_SUCCESS") == "REFUND_SUCCESS"


# --- daily bill ---------------------------------------------------------------------------------------

def download_bill(bill_date: date) -> list[BillRow]:
    """The day's trade bill as BillLine-shaped dicts (payments and refunds); [] when Alipay has none.

    alipay.data.dataservice.bill.downloadurl.query gives a short-lived URL of a zip holding GBK CSV
    files: the detail file (业务明细) and a summary (业务明细(汇总)). Detail rows are read by column
    name: 支付宝交易号, 商户订单号, 业务类型 (交易 = payment, 退款 = refund), 完成时间, 订单金额（元）,
    商家实收（元） and 退款批次号/请求号. Cells carry a trailing tab, lines starting with # are comments.
    A refund line's amount is 订单金额 when Alipay writes it negative, else the magnitude of 商家实收.
    """
    answer = _call(client().server_api, "alipay.data.dataservice.bill.downloadurl.query",
                   biz_content={"bill_type": "trade", "bill_date": bill_date.isoformat()})
    if answer.get("sub_code") == "isp.bill_not_exist":
        return []
    url = _ok(answer, "bill download")["bill_download_url"]
    try:
        with urlopen(url, timeout=30) as response:
            payload = response.read(BILL_LIMIT + 1)
    except (URLError, OSError) as exc:
        raise AlipayError(f"the bill could not be fetched: {exc}") from None
    if len(payload) > BILL_LIMIT:
        raise AlipayError("the bill is larger than 64 MiB")
    return parse_bill(payload, bill_date)


def parse_bill(payload: bytes, bill_date: date) -> list[BillRow]:
    """Read the detail lines of a bill (a zip of CSV files, or one CSV file)."""
    if payload[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            texts = [_decode(archive.read(member)) for member in archive.namelist() if member.lower().endswith(".csv")]
    else:
        texts = [_decode(payload)]
    lines = []
    for text in texts:
        lines.extend(_detail_lines(text, bill_date))
    return lines


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def _detail_lines(text: str, bill_date: date) -> list[BillRow]:
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))
            if row and not row[0].lstrip().startswith("#")]
    if not rows or "支付宝交易号" not in rows[0] or "商户订单号" not in rows[0]:
        return []  # the summary file, or something else in the zip
    header = rows[0]

    def col(prefix: str) -> int | None:
        return next((i for i, name in enumerate(header) if name.startswith(prefix)), None)

    trade, order, kind, done = col("支付宝交易号"), col("商户订单号"), col("业务类型"), col("完成时间")
    total, received, request_no = col("订单金额"), col("商家实收"), col("退款批次号")
    lines = []
    for row in rows[1:]:
        if len(row) < len(header) or row[kind] not in ("交易", "退款"):
            continue
        amount = yuan_to_fen(row[total], signed=True)
        if row[kind] == "退款" and amount >= 0 and received is not None and row[received]:
            amount = yuan_to_fen(row[received], signed=True)
        lines.append({
            "source": "alipay", "bill_date": bill_date, "kind": "payment" if row[kind] == "交易" else "refund",
            "out_trade_no": row[order], "platform_trade_no": row[trade],
            "out_refund_no": row[request_no] if row[kind] == "退款" and request_no is not None else "",
            "amount_fen": abs(amount), "paid_at": beijing_time(row[done]) if done is not None else None,
        })
    return lines

