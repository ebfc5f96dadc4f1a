"""The Alipay provider: channels alipay_wap and alipay_qr, through the calls of `alipay`.

It only turns Alipay's answers into the protocol's types; every call goes to the `alipay` module's
functions as they are at the time of the call.
"""
from __future__ import annotations

from datetime import date

from portal.models import Channel, PaymentOrder
from portal.payments.providers.alipay import api as alipay
from portal.payments.providers.base import BillRow, PayData, RefundAnswer, TradeView


class AlipayProvider:
    """Alipay for the registry: a signed page to open on a phone (wap), or a QR code to scan (precreate)."""

    bill_source = "alipay"
    can_refund = True

    def missing(self) -> list[str]:
        """The ALIPAY_* variables still unset."""
        return alipay.missing()

    def start(self, order: PaymentOrder, context: dict) -> PayData:
        """{"pay_url"} for wap, {"qr_code", "qr_svg"} for QR."""
        if order.channel == Channel.ALIPAY_QR:
            return alipay.start_qr(order, context)
        return alipay.start_wap(order, context)

    def query(self, out_trade_no: str) -> TradeView:
        """alipay.trade.query: the payment as Alipay sees it (None inside when it never saw the trade)."""
        return TradeView(alipay.query_trade(out_trade_no))

    def close(self, out_trade_no: str) -> bool:
        """alipay.trade.close: True when closed or never opened, False once paid."""
        return alipay.close_trade(out_trade_no)

    def refund(self, order: PaymentOrder, out_refund_no: str, amount_fen: int, reason: str) -> RefundAnswer:
        """alipay.trade.refund: Alipay answers at once, accepted (the money moved) or refused."""
        result = alipay.refund(order.out_trade_no, out_refund_no, amount_fen, reason)
        if result.ok:
            return RefundAnswer(True)
        return RefundAnswer(False, f"{result.error_code} {result.error}".strip() or "refused by the platform")

    def download_bill(self, day: date) -> list[BillRow]:
        """The day's trade bill."""
        return alipay.download_bill(day)
