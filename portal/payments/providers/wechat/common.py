"""What WeChat Pay's API v2 and API v3 share: errors, receipts, QR codes, time, the merchant check, the bill.

Both APIs deliver the same text bill and call back on URLs made from PUBLIC_BASE_URL; both answer for a
merchant (app id, merchant id) that has to be ours.
"""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import qrcode
from qrcode.image.svg import SvgPathImage

from portal import money
from portal.models import PaymentOrder
from portal.payments.providers.base import BillRow
from portal.settings import public_url

#: WeChat Pay states every time in Beijing time, whatever the site's business time zone
BEIJING = ZoneInfo("Asia/Shanghai")
#: (connect, read) seconds for every call to the platform
TIMEOUT = (5, 15)


class WeChatPayError(Exception):
    """The platform could not be reached, refused the request, or answered something unverifiable."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        #: the platform's error code (ORDERPAID, ORDER_NOT_EXIST...), when it gave one
        self.code = code


class NotifyRejected(ValueError):
    """A notify that is unsigned, badly signed or malformed: answered with `status`, nothing changes."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def notify_url(path: str) -> str:
    """The absolute URL WeChat Pay calls back, from PUBLIC_BASE_URL."""
    return public_url(path)


def description(order: PaymentOrder) -> str:
    """What the payer sees on the WeChat receipt (at most 127 bytes)."""
    text = f"先付充值 {order.account.code}"
    return text.encode()[:127].decode(errors="ignore")


def qr_svg(text: str) -> str:
    """The QR code of `text` as inline SVG (no image files, no CDN)."""
    return qrcode.make(text, image_factory=SvgPathImage, box_size=8, border=2).to_string(encoding="unicode")


def beijing_time(value: str | None, fmt: str = "%Y%m%d%H%M%S") -> datetime | None:
    """A WeChat timestamp in Beijing time as aware UTC; None when absent or unreadable."""
    try:
        return datetime.strptime(value or "", fmt).replace(tzinfo=BEIJING).astimezone(ZoneInfo("UTC"))
    except ValueError:
        return None


def merchant_problem(s, appid: str | None, mch_id: str | None) -> str | None:
    """Why a verified message is not for this merchant (None when it is)."""
    if appid is not None and appid != s.app_id:
        return f"appid {appid!r} is not ours ({s.app_id})"
    if mch_id != s.mch_id:
        return f"merchant id {mch_id!r} is not ours ({s.mch_id})"
    return None


# --- the daily bill (same text format in v2 and v3) -----------------------------------------------

def parse_bill(text: str, bill_date: date) -> list[BillRow]:
    """Payment and refund lines of a WeChat trade bill (fields start with a backtick; amounts in yuan)."""
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0].split(",")
    rows = []
    for line in lines[1:]:
        if not line.startswith("`"):
            break  # the summary block (总交易单数...) ends the detail lines
        # Split on ",`" rather than ",": a product name may itself contain commas.
        row = dict(zip(header, line[1:].split(",`")))
        state = row.get("交易状态", "")
        if state == "SUCCESS":
            kind, amount = "payment", row.get("订单金额") or row.get("应结订单金额")
        elif state == "REFUND":
            kind, amount = "refund", row.get("申请退款金额") or row.get("退款金额")
        else:
            continue
        rows.append({
            "source": "wechat", "bill_date": bill_date, "kind": kind, "out_trade_no": row.get("商户订单号", ""),
            "platform_trade_no": row.get("微信订单号", ""),
            "out_refund_no": row.get("商户退款单号", "") if kind == "refund" else "",
            "amount_fen": yuan_to_fen(amount), "paid_at": beijing_time(row.get("交易时间"), "%Y-%m-%d %H:%M:%S"),
        })
    return rows


def yuan_to_fen(text: str | None) -> int:
    """A bill amount like "12.34" as 1234 fen, exactly; WeChatPayError for anything else."""
    try:
        return money.yuan_to_fen((text or "").strip())
    except ValueError:
        raise WeChatPayError(f"bill amount {text!r} is not a whole number of fen") from None
