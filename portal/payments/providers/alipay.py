"""Alipay through python-alipay-sdk: settings, the wap and QR starters, notifies, query, close, refund, bills.

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
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen
from zoneinfo import ZoneInfo

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig
from Cryptodome.PublicKey import RSA
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import settings
from portal.models import Channel, NotifyOutcome, PaymentNotification, PaymentOrder
from portal.money import fen_to_yuan, yuan_to_fen
from portal.payments.notify import RAW_LIMIT, VerifiedPayment, accept_payment
from portal.payments.providers.registry import ChannelUnavailable, register
from portal.settings import AlipaySettings, public_url

log = logging.getLogger(__name__)

PRODUCTION_GATEWAY = AlipaySettings.PRODUCTION_GATEWAY

SUCCESS_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
NOTIFY_FIELDS = ("app_id", "out_trade_no", "trade_no", "total_amount", "trade_status")
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


class InvalidNotify(Exception):
    """An unsigned, badly signed or malformed notify: rejected, nothing recorded."""


def _beijing(text: str | None) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ALIPAY_TZ).astimezone(timezone.utc) \
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


@register("alipay_wap", missing)
def start_wap(order: PaymentOrder, context: dict) -> dict:
    """Mobile-browser payment: a signed gateway URL the payer opens (no server call until then)."""
    cfg = config()
    back = context.get("return_url") or public_url(f"/t/orders/{order.out_trade_no}")
    query = client(cfg).api_alipay_trade_wap_pay(return_url=back, notify_url=public_url("/pay/alipay/notify"),
                                                 quit_url=back, **_trade_fields(order))
    return {"pay_url": f"{cfg.gateway}?{query}"}


@register("alipay_qr", missing)
def start_qr(order: PaymentOrder, context: dict) -> dict:
    """Face-to-face precreate: Alipay returns the QR content; an SVG of it is rendered here."""
    try:
        answer = _ok(_call(client().api_alipay_trade_precreate, notify_url=public_url("/pay/alipay/notify"),
                           **_trade_fields(order)), "precreate")
    except AlipayError as exc:
        raise ChannelUnavailable(f"Alipay could not start the payment: {exc}") from None
    return {"qr_code": answer["qr_code"], "qr_svg": qr_svg(answer["qr_code"])}


def qr_svg(content: str) -> str:
    """The QR code as an inline SVG document."""
    import qrcode
    import qrcode.image.svg

    return qrcode.make(content, image_factory=qrcode.image.svg.SvgPathImage).to_string(encoding="unicode")


# --- notifies ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RefundNotice:
    """A verified notify about a refund (refund_fee / gmt_refund present): recorded, not a payment."""

    out_trade_no: str
    platform_trade_no: str
    refund_fen: int
    out_refund_no: str
    refunded_at: datetime | None
    merchant_problem: str | None


def parse_form(body: bytes) -> dict[str, str]:
    """A urlencoded notify body as a dict; InvalidNotify for anything else (or a repeated field)."""
    from urllib.parse import parse_qsl

    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=200,
                          encoding="utf-8", errors="strict")
        if any(k == "charset" and v.lower() == "gbk" for k, v in pairs):
            pairs = parse_qsl(text, keep_blank_values=True, encoding="gbk", errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotify(f"not a urlencoded form: {exc}") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InvalidNotify("a field is repeated")
    return fields


def notify_config(app_id: str) -> AlipayConfig | None:
    """The merchant whose Alipay key verifies a notify: the sandbox's for its app id, else the configured one."""
    from portal.payments.providers import sandbox

    box = sandbox.alipay_config()
    real = None if missing() else config()
    if box is not None and (app_id == box.app_id or real is None):
        return box
    return real


def _verified(cfg: AlipayConfig, fields: dict[str, str], signature: str) -> bool:
    # Alipay's own SDKs leave empty values out of the signed string; python-alipay-sdk keeps them.
    # Either way the content is fully fixed by what was received, so both readings are safe to try.
    data = {k: v for k, v in fields.items() if k not in ("sign", "sign_type")}
    candidates = [{k: v for k, v in data.items() if v != ""}]
    if len(candidates[0]) != len(data):
        candidates.append(data)
    sdk = client(cfg)
    for candidate in candidates:
        try:
            if sdk.verify(candidate, signature):
                return True
        except (AliPayException, ValueError, TypeError):
            return False
    return False


def read_notify(fields: dict[str, str]) -> tuple[VerifiedPayment | RefundNotice, AlipayConfig]:
    """Verify a notify's RSA2 signature and read it; InvalidNotify when unsigned, badly signed or malformed."""
    signature = fields.get("sign", "")
    if not signature:
        raise InvalidNotify("unsigned")
    if fields.get("sign_type", "RSA2") != "RSA2":
        raise InvalidNotify(f"sign_type {fields.get('sign_type')!r} is not RSA2")
    cfg = notify_config(fields.get("app_id", ""))
    if cfg is None:  # not the sender's fault: answered 503 so that Alipay retries once we are configured
        raise AlipayConfigError(f"Alipay is not configured here: set {', '.join(missing())}")
    if not _verified(cfg, fields, signature):
        raise InvalidNotify("the signature does not verify against Alipay's public key")
    absent = [name for name in NOTIFY_FIELDS if not fields.get(name)]
    if absent:
        raise InvalidNotify(f"missing {', '.join(absent)}")
    try:
        amount = yuan_to_fen(fields["total_amount"])
        refund = yuan_to_fen(fields["refund_fee"]) if fields.get("refund_fee") else None
    except ValueError as exc:
        raise InvalidNotify(str(exc)) from None
    problem = None
    if fields["app_id"] != cfg.app_id:
        problem = f"app_id {fields['app_id'][:40]} is not ours ({cfg.app_id})"
    elif cfg.seller_id and fields.get("seller_id") != cfg.seller_id:
        problem = f"seller_id {fields.get('seller_id', '')[:40]!r} is not ours ({cfg.seller_id})"
    if refund is not None or fields.get("gmt_refund"):
        return RefundNotice(fields["out_trade_no"], fields["trade_no"], refund or 0, fields.get("out_biz_no", ""),
                            _beijing(fields.get("gmt_refund")), problem), cfg
    return VerifiedPayment(
        source="alipay", out_trade_no=fields["out_trade_no"], platform_trade_no=fields["trade_no"],
        amount_fen=amount, success=fields["trade_status"] in SUCCESS_STATUSES,
        payer=fields.get("buyer_id") or fields.get("buyer_open_id") or "",
        paid_at=_beijing(fields.get("gmt_payment")), merchant_problem=problem,
    ), cfg


def accept_notify(session: Session, fields: dict[str, str], raw: str) -> NotifyOutcome:
    """Verify, read and hand a notify to the core (or record a refund notify); the caller commits."""
    notice, cfg = read_notify(fields)
    if cfg.sandbox and notice.merchant_problem is None:
        # The demo's keys live on this machine: they may pay sandbox orders, never real ones.
        channel = session.scalar(select(PaymentOrder.channel).where(PaymentOrder.out_trade_no == notice.out_trade_no))
        if channel not in (None, Channel.SANDBOX):
            notice = replace(notice, merchant_problem="a sandbox-signed notify for an order that is not a sandbox one")
    if isinstance(notice, RefundNotice):
        return handle_refund_notify(session, notice, raw)
    return accept_payment(session, notice, raw)


def handle_refund_notify(session: Session, notice: RefundNotice, raw: str) -> NotifyOutcome:
    """Record a verified refund notify; refunds are settled by the refund workflow, which may hook in here."""
    order_id = session.scalar(select(PaymentOrder.id).where(PaymentOrder.out_trade_no == notice.out_trade_no))
    reason = notice.merchant_problem or f"refund notify: {fen_to_yuan(notice.refund_fen)} yuan refunded so far" \
        + (f" (request {notice.out_refund_no})" if notice.out_refund_no else "")
    session.add(PaymentNotification(
        source="alipay", outcome=NotifyOutcome.IGNORED, reason=reason[:300], out_trade_no=notice.out_trade_no[:64],
        platform_trade_no=notice.platform_trade_no[:64], amount_fen=notice.refund_fen, order_id=order_id,
        raw=raw[:RAW_LIMIT],
    ))
    session.flush()
    return NotifyOutcome.IGNORED


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
        paid_at=_beijing(answer.get("send_pay_date")),
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

def download_bill(bill_date: date) -> list[dict]:
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


def parse_bill(payload: bytes, bill_date: date) -> list[dict]:
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


def _detail_lines(text: str, bill_date: date) -> list[dict]:
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
            "amount_fen": abs(amount), "paid_at": _beijing(row[done]) if done is not None else None,
        })
    return lines

