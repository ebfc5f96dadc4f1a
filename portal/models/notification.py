"""Telling people (SPEC §3 "Nobody is left uninformed"): the delivery log, a shop's preferences, a site's staff
recipients, and the codes of SMS sign-in.

A `Delivery` is one message to one recipient for one event crossing: its dedupe key is unique, so a crossing
queues at most one message per recipient however often the code that noticed it runs. It moves
pending → sending → sent, or back to pending with a later `due_at` (a passing failure: retry with backoff;
another channel: fallback), or to failed (every channel gave up) or uncertain (a sender died while its channel
held the message, and that channel cannot say whether it went: never sent again, shown to staff).
"""
from __future__ import annotations

import enum
from datetime import datetime, time

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Time, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import BIGINT_PK, Base, CreatedMixin, str_enum, utcnow


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class Audience(str, enum.Enum):
    TENANT = "tenant"
    STAFF = "staff"


class Delivery(CreatedMixin, Base):
    """One message to one recipient, the channel it is on, and what became of it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # what the senders claim next: urgent first, then the oldest due (a partial index: the log's sent rows
        # are most of the table and never looked at by a sender)
        Index("ix_deliveries_due", "urgent", "due_at", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
        Index("ix_deliveries_sending", "claimed_at", postgresql_where=text("status = 'sending'"),
              sqlite_where=text("status = 'sending'")),
        Index("ix_deliveries_account_created", "account_id", "created_at"),
        Index("ix_deliveries_site_created", "site_id", "created_at"),
        CheckConstraint("attempts >= 0", name="attempts_pos"),
    )

    id: Mapped[int] = mapped_column(BIGINT_PK, primary_key=True)
    #: the site it concerns (None: a sign-in code to a phone, before anyone knows which shop)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    #: the shop it is about (a tenant's message, or a staff alarm about a shop)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id"))
    #: what happened (portal.notify.events): low_balance_1, supply_off, payment_credited, meter_offline, ...
    event: Mapped[str] = mapped_column(String(40))
    audience: Mapped[Audience] = mapped_column(str_enum(Audience, "delivery_audience"))
    #: one event crossing, one recipient: unique, so a crossing is told once however often it is noticed
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: who: a tenant user, a staff recipient, or only the phone on the shop's file
    tenant_user_id: Mapped[int | None] = mapped_column(ForeignKey("tenant_users.id", ondelete="SET NULL"))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("notify_recipients.id", ondelete="SET NULL"))
    #: the address on the current channel: a phone number, or a WeChat openid
    recipient: Mapped[str] = mapped_column(String(80))
    #: the channel of the current (or last) attempt: wechat, aliyun, modem, log
    channel: Mapped[str] = mapped_column(String(16))
    #: the channels still to try after this one when it gives up, in order, comma-separated (with their
    #: addresses: "aliyun:13800000000,modem:13800000000")
    fallback: Mapped[str] = mapped_column(String(200), default="")
    #: the message written out in the recipient's language (what the modem and the log send)
    text: Mapped[str] = mapped_column(String(500))
    #: the template's variables (WeChat template messages, Aliyun SMS templates)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    link: Mapped[str | None] = mapped_column(String(300))
    #: supply off and restored, and sign-in codes: never held by quiet hours, claimed before the rest
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING)
    #: tries on the current channel (a fallback to the next channel counts afresh; `error` keeps the earlier's word)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: not before: the end of quiet hours, or a retry's backoff
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    #: the provider's id for the message (Aliyun's BizId, WeChat's msgid, the modem's references)
    provider_id: Mapped[str | None] = mapped_column(String(80))
    #: the last failure of each channel tried, in the providers' words ("aliyun: ... | modem: ...")
    error: Mapped[str | None] = mapped_column(String(300))


class NotifyPreference(Base):
    """What a shop wants to be told and how (no row: WeChat where bound, else SMS; every event; the site's
    quiet hours)."""

    __tablename__ = "notify_preferences"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    #: channels in the order to try, comma-separated, of "wechat" and "sms"
    channels: Mapped[str] = mapped_column(String(40), default="wechat,sms")
    #: events the shop does not want (never supply_off or supply_restored), as a list of event names
    muted: Mapped[list] = mapped_column(JSON, default=list)
    #: the shop's own quiet hours (local time); None: the platform's (NOTIFY_QUIET_HOURS)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotifyRecipient(CreatedMixin, Base):
    """Someone of a site's staff who is told of its alarms: which kinds, when on duty, by which address."""

    __tablename__ = "notify_recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    phone: Mapped[str] = mapped_column(String(32), default="")
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    #: staff events this recipient is told of (a list of event names); empty: all of them
    events: Mapped[list] = mapped_column(JSON, default=list)
    #: on duty between these local times (over midnight when start > end); None: always
    duty_start: Mapped[time | None] = mapped_column(Time)
    duty_end: Mapped[time | None] = mapped_column(Time)
    active: Mapped[bool] = mapped_column(default=True)


class LoginCode(CreatedMixin, Base):
    """A 6-digit code sent by SMS to sign a tenant in outside WeChat: stored hashed, valid 5 minutes, 5 tries."""

    __tablename__ = "login_codes"
    __table_args__ = (Index("ix_login_codes_phone_created", "phone", "created_at"),)

    id: Mapped[int] = mapped_column(BIGINT_PK, primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
    tries: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None]
    #: the address that asked for it (limits per address)
    address: Mapped[str] = mapped_column(String(64), default="")
