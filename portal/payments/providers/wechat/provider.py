"""The WeChat Pay provider: channels wechat_native and wechat_jsapi, on API v3 when configured, else API v2.

The choice between the two APIs is made here and nowhere else (`active_api`): both modules offer the same
functions (start, query_order, close_order, refund, download_bill) with the same answers, and this provider
turns those answers into the protocol's types.
"""
from __future__ import annotations

from datetime import date
from types import ModuleType

from portal.models import PaymentOrder
from portal.payments.providers.base import BillRow, ChannelUnavailable, PayData, RefundAnswer, TradeView
from portal.payments.providers.wechat import v2, v3
from portal.payments.providers.wechat.common import WeChatPayError

TRADE_TYPES = {"wechat_native": "NATIVE", "wechat_jsapi": "JSAPI"}
#: WeChat trade states in which nothing can be paid any more
DEAD = frozenset({"CLOSED", "REVOKED"})
#: WeChat trade states that must not be closed (the payer is entering a password; money already moved)
BUSY = frozenset({"USERPAYING", "REFUND"})


def active_api() -> ModuleType:
    """The WeChat Pay API module in use: v3 when configured, else v2 (same functions, same answers)."""
    return v3 if not v3.missing() else v2


class WeChatProvider:
    """WeChat Pay for the registry: a QR code to scan (native) or the pay sheet inside WeChat (JSAPI)."""

    bill_source = "wechat"
    can_refund = True

    def missing(self) -> list[str]:
        """Nothing when either API is fully configured; otherwise what API v3 (preferred) still needs."""
        v3_missing, v2_missing = v3.missing(), v2.missing()
        if not v3_missing or not v2_missing:
            return []
        return [*v3_missing, f"(or for API v2: {', '.join(v2_missing)})"]

    def start(self, order: PaymentOrder, context: dict) -> PayData:
        """{"code_url", "qr_svg"} for native, {"jsapi_params"} for the payer's openid inside WeChat."""
        try:
            return active_api().start(order, context, TRADE_TYPES[order.channel.value])
        except WeChatPayError as exc:
            raise ChannelUnavailable(str(exc)) from None

    def query(self, out_trade_no: str) -> TradeView:
        """The trade as WeChat Pay sees it, with whether it is dead or busy."""
        answer = active_api().query_order(out_trade_no)
        state = answer.get("state") or ""
        return TradeView(answer.get("payment"), dead=state in DEAD, busy=state in BUSY)

    def close(self, out_trade_no: str) -> bool:
        """Close the trade; False when it was paid meanwhile, True when WeChat Pay never had it."""
        try:
            active_api().close_order(out_trade_no)
        except WeChatPayError as exc:
            if exc.code == "ORDERPAID":
                return False
            if exc.code in ("ORDERNOTEXIST", "ORDER_NOT_EXIST"):
                return True  # never placed there: nothing can be paid on it
            raise
        return True

    def refund(self, order: PaymentOrder, out_refund_no: str, amount_fen: int, reason: str) -> RefundAnswer:
        """Ask for a refund; WeChat Pay accepts it first (PROCESSING) and tells how it ended by notify."""
        # WeChat Pay wants the order's total with every refund.
        answer = active_api().refund(order.out_trade_no, out_refund_no, amount_fen, order.amount_fen, reason)
        status = str(answer.get("status") or "SUCCESS").upper()
        ok = status in ("SUCCESS", "PROCESSING")
        return RefundAnswer(ok, "" if ok else f"{status} {answer.get('error') or ''}".strip())

    def download_bill(self, day: date) -> list[BillRow]:
        """The day's trade bill from the API in use."""
        return active_api().download_bill(day)
