"""Payment orders: one per attempt to pay, with an explicit state machine."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import BIGINT_PK, Base, CreatedMixin, str_enum, utcnow


class Channel(str, enum.Enum):
    ALIPAY_WAP = "alipay_wap"
    ALIPAY_QR = "alipay_qr"
    WECHAT_NATIVE = "wechat_native"
    WECHAT_JSAPI = "wechat_jsapi"
    SANDBOX = "sandbox"


class OrderStatus(str, enum.Enum):
    CREATED = "created"
    PAID = "paid"
    CREDITED = "credited"
    CLOSED = "closed"
    REFUNDED = "refunded"


class PaymentOrder(CreatedMixin, Base):
    """An order sent to a payment platform; credited to its account at most once."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_pos"),
        Index("ix_payment_orders_open", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount_fen: Mapped[int]
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "pay_channel"))
    status: Mapped[OrderStatus] = mapped_column(
        str_enum(OrderStatus, "order_status"), default=OrderStatus.CREATED
    )
    #: the platform's own trade number, from the notify or a query
    platform_trade_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: WeChat openid or Alipay buyer id
    payer: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[str] = mapped_column(String(80), default="")
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    credited_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    #: refunded so far (fen); an order is "refunded" once this reaches its amount
    refunded_fen: Mapped[int] = mapped_column(default=0)

    account = relationship("Account")


class NotifyOutcome(str, enum.Enum):
    ACCEPTED = "accepted"        # verified, checked, order moved to paid
    DUPLICATE = "duplicate"      # verified, the order was already paid or credited
    IGNORED = "ignored"          # verified, but not a success status (WAIT_BUYER_PAY...): nothing to do
    ANOMALY = "anomaly"          # verified, but a business check failed (amount, merchant...)
    REJECTED = "rejected"        # unsigned, badly signed or malformed: nothing changed


class PaymentNotification(Base):
    """Every notify received, verified or not, with its raw payload kept as it came."""

    __tablename__ = "payment_notifications"
    __table_args__ = (Index("ix_payment_notifications_trade", "out_trade_no"),)

    id: Mapped[int] = mapped_column(BIGINT_PK, primary_key=True)
    #: alipay, wechat_v2, wechat_v3
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[NotifyOutcome] = mapped_column(str_enum(NotifyOutcome, "notify_outcome"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    out_trade_no: Mapped[str | None] = mapped_column(String(64))
    platform_trade_no: Mapped[str | None] = mapped_column(String(64))
    #: the amount the platform says was paid, in fen
    amount_fen: Mapped[int | None]
    order_id: Mapped[int | None] = mapped_column(ForeignKey("payment_orders.id"))
    #: body as received (truncated at 64 KiB) and the headers that carry signatures
    raw: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict | None] = mapped_column(JSON)


class RefundStatus(str, enum.Enum):
    REQUESTED = "requested"      # by a cashier, waiting for a manager
    REJECTED = "rejected"        # by a manager
    APPROVED = "approved"        # sent to the platform, waiting for its answer
    SUCCEEDED = "succeeded"      # the platform paid it back; the ledger entry is posted
    FAILED = "failed"            # the platform refused it


class Refund(CreatedMixin, Base):
    """Money sent back through the payment platform, with a manager's approval."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_pos"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("payment_orders.id"), index=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[RefundStatus] = mapped_column(str_enum(RefundStatus, "refund_status"),
                                                 default=RefundStatus.REQUESTED)
    requested_by: Mapped[str] = mapped_column(String(80))
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(String(300), default="")

    order = relationship("PaymentOrder")


class BillLine(Base):
    """One line of a platform's daily bill, downloaded for reconciliation."""

    __tablename__ = "bill_lines"
    __table_args__ = (UniqueConstraint("source", "platform_trade_no", "kind", "out_refund_no"),
                      Index("ix_bill_lines_day", "source", "bill_date"))

    id: Mapped[int] = mapped_column(BIGINT_PK, primary_key=True)
    #: alipay, wechat
    source: Mapped[str] = mapped_column(String(16))
    bill_date: Mapped[date]
    #: payment or refund
    kind: Mapped[str] = mapped_column(String(8))
    out_trade_no: Mapped[str] = mapped_column(String(64))
    platform_trade_no: Mapped[str] = mapped_column(String(64))
    out_refund_no: Mapped[str] = mapped_column(String(64), default="")
    amount_fen: Mapped[int]
    paid_at: Mapped[datetime | None]
