"""Payment orders: one per attempt to pay, with an explicit state machine."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, CreatedMixin, str_enum


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

    account = relationship("Account")
