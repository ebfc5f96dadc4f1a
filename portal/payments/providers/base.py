"""What every payment provider offers, and the typed answers it gives.

A provider is one payment platform as the rest of the app sees it: Alipay, WeChat Pay (API v3 or v2, its own
choice), the demo sandbox. The registry hands out the provider of an order's channel; the recovery sweep,
refunds and reconciliation talk to it only through `Provider`, and never ask which platform it is.

`Provider` is a `typing.Protocol`, not an ABC: the providers share no code (each speaks its platform through
its own SDK), nothing needs an isinstance check, and a test's stand-in is any object with these methods.
A provider that has no platform behind it (the sandbox) says so in the answers' own types: `query` gives
None, `refund` a refused `RefundAnswer`, `download_bill` no lines and `bill_source` None.

Notifies are not part of the protocol: each platform signs them its own way, so each notify route calls its
provider's verifier directly. What a verified notify says is a `VerifiedPayment` (portal.payments.notify)
or a `RefundNotice` (here).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, TypedDict

from portal.models import PaymentOrder
from portal.payments.notify import VerifiedPayment


class ChannelUnavailable(Exception):
    """The channel is not configured here, or the platform refused to start the payment."""


class PayData(TypedDict, total=False):
    """What the payer needs to pay an order: JSON, kept in the audit trail and returned by the API as it is."""

    pay_url: str  # alipay_wap, sandbox: the page to open
    qr_code: str  # alipay_qr: the content of the QR code
    code_url: str  # wechat_native: the content of the QR code
    qr_svg: str  # alipay_qr, wechat_native: that QR code drawn
    jsapi_params: dict  # wechat_jsapi: the WeixinJSBridge parameters


class BillRow(TypedDict):
    """One line of a platform's daily bill, shaped as a `portal.models.BillLine` row."""

    source: str  # alipay, wechat
    bill_date: date
    kind: str  # payment, refund
    out_trade_no: str
    platform_trade_no: str
    out_refund_no: str  # "" on a payment line
    amount_fen: int
    paid_at: datetime | None


@dataclass(frozen=True)
class TradeView:
    """The platform's view of one trade, as the recovery sweep needs it."""

    #: what the platform says of the payment (paid or not yet); None when it never saw the trade
    payment: VerifiedPayment | None
    #: closed at the platform: it can no longer be paid
    dead: bool = False
    #: must not be closed now (the payer is entering a password, or money already moved)
    busy: bool = False


@dataclass(frozen=True)
class RefundAnswer:
    """What the platform said to a refund request: accepted (ok) or refused, with its words."""

    ok: bool
    error: str = ""


@dataclass(frozen=True)
class RefundNotice:
    """A verified notify about a refund, from Alipay or WeChat Pay; recorded, and settled where it says how."""

    source: str  # alipay, wechat_v2, wechat_v3
    out_trade_no: str
    #: our refund request number (Alipay's out_biz_no; it may be empty there)
    out_refund_no: str
    #: the platform's number for the refund (WeChat Pay's refund_id; Alipay gives none)
    refund_id: str
    #: WeChat Pay: this refund; Alipay: everything refunded on the trade so far
    refund_fen: int
    #: WeChat Pay: SUCCESS, CHANGE / ABNORMAL, REFUNDCLOSE / CLOSED; Alipay: the trade's status
    status: str
    #: why the notify is not for this merchant; None when it is
    merchant_problem: str | None = None
    #: the platform's number of the trade refunded (Alipay's trade_no)
    platform_trade_no: str = ""
    refunded_at: datetime | None = None

    @property
    def success(self) -> bool:
        """The money went back to the payer (WeChat Pay's word for it)."""
        return self.status == "SUCCESS"


class Provider(Protocol):
    """One payment platform: start a payment, ask about a trade, close it, refund it, fetch the daily bill."""

    #: the `source` of this platform's bill lines (alipay, wechat); None when it keeps no bill
    bill_source: str | None
    #: whether money paid through it can be sent back through it (the sandbox moved none to send back)
    can_refund: bool

    def missing(self) -> list[str]:
        """The settings still to set before this platform can be used (empty: ready)."""

    def start(self, order: PaymentOrder, context: dict) -> PayData:
        """Ask the platform for what the payer needs; ChannelUnavailable when it cannot start the payment."""

    def query(self, out_trade_no: str) -> TradeView | None:
        """The platform's view of a trade; None when there is no platform to ask."""

    def close(self, out_trade_no: str) -> bool:
        """Close an unpaid trade: True when closed (or never opened there), False when it was paid meanwhile."""

    def refund(self, order: PaymentOrder, out_refund_no: str, amount_fen: int, reason: str) -> RefundAnswer:
        """Send money back once per out_refund_no; an exception means no answer (sending again is safe)."""

    def download_bill(self, day: date) -> list[BillRow]:
        """The platform's bill of a Beijing day: payment and refund lines ([] when there is none)."""
