"""Alipay notifies: the urlencoded form, its RSA2 signature, our merchant, and the hand-over to the core.

A verified payment notify goes to `accept_payment`; a refund notify (refund_fee / gmt_refund present) is
only recorded. The demo sandbox's merchant is a second candidate key, given by the caller: this module
never looks for the sandbox itself (the sandbox builds on Alipay, not the other way round).
"""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl

from alipay.exceptions import AliPayException
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Channel, NotifyOutcome, PaymentNotification, PaymentOrder
from portal.money import fen_to_yuan, yuan_to_fen
from portal.payments.notify import RAW_LIMIT, VerifiedPayment, accept_payment
from portal.payments.providers.alipay.api import (
    SUCCESS_STATUSES,
    AlipayConfig,
    AlipayConfigError,
    beijing_time,
    client,
    config,
    missing,
)
from portal.payments.providers.base import RefundNotice

NOTIFY_FIELDS = ("app_id", "out_trade_no", "trade_no", "total_amount", "trade_status")


class InvalidNotify(Exception):
    """An unsigned, badly signed or malformed notify: rejected, nothing recorded."""


def parse_form(body: bytes) -> dict[str, str]:
    """A urlencoded notify body as a dict; InvalidNotify for anything else (or a repeated field)."""
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=200,
                          encoding="utf-8", errors="strict")
        fields = dict(pairs)
        if fields.get("charset", "").lower() == "gbk" and len(fields) == len(pairs):
            pairs = parse_qsl(text, keep_blank_values=True, encoding="gbk", errors="strict")
            fields = dict(pairs)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotify(f"not a urlencoded form: {exc}") from None
    if len(fields) != len(pairs):
        raise InvalidNotify("a field is repeated")
    return fields


def notify_config(app_id: str, sandbox: AlipayConfig | None = None) -> AlipayConfig | None:
    """The merchant whose Alipay key verifies a notify: the sandbox's for its app id, else the configured one."""
    real = None if missing() else config()
    if sandbox is not None and (app_id == sandbox.app_id or real is None):
        return sandbox
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


def read_notify(fields: dict[str, str], sandbox: AlipayConfig | None = None
                ) -> tuple[VerifiedPayment | RefundNotice, AlipayConfig]:
    """Verify a notify's RSA2 signature and read it; InvalidNotify when unsigned, badly signed or malformed.

    `sandbox` is the demo sandbox's merchant when it is on: a candidate key for notifies with its app id.
    """
    signature = fields.get("sign", "")
    if not signature:
        raise InvalidNotify("unsigned")
    if fields.get("sign_type", "RSA2") != "RSA2":
        raise InvalidNotify(f"sign_type {fields.get('sign_type')!r} is not RSA2")
    cfg = notify_config(fields.get("app_id", ""), sandbox)
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
        return RefundNotice(source="alipay", out_trade_no=fields["out_trade_no"],
                            out_refund_no=fields.get("out_biz_no", ""), refund_id="", refund_fen=refund or 0,
                            status=fields["trade_status"], merchant_problem=problem,
                            platform_trade_no=fields["trade_no"], refunded_at=beijing_time(fields.get("gmt_refund"))
                            ), cfg
    return VerifiedPayment(
        source="alipay", out_trade_no=fields["out_trade_no"], platform_trade_no=fields["trade_no"],
        amount_fen=amount, success=fields["trade_status"] in SUCCESS_STATUSES,
        payer=fields.get("buyer_id") or fields.get("buyer_open_id") or "",
        paid_at=beijing_time(fields.get("gmt_payment")), merchant_problem=problem,
    ), cfg


def accept_notify(session: Session, fields: dict[str, str], raw: str,
                  sandbox: AlipayConfig | None = None) -> NotifyOutcome:
    """Verify, read and hand a notify to the core (or record a refund notify); the caller commits."""
    notice, cfg = read_notify(fields, sandbox)
    if cfg.sandbox and notice.merchant_problem is None:
        # The demo's keys live on this machine: they may pay sandbox orders, never real ones.
        channel = session.scalar(select(PaymentOrder.channel).where(PaymentOrder.out_trade_no == notice.out_trade_no))
        if channel not in (None, Channel.SANDBOX):
            notice = replace(notice, merchant_problem="a sandbox-signed notify for an order that is not a sandbox one")
    if isinstance(notice, RefundNotice):
        return handle_refund_notify(session, notice, raw)
    return accept_payment(session, notice, raw)


def handle_refund_notify(session: Session, notice: RefundNotice, raw: str) -> NotifyOutcome:
    """Record a verified refund notify; Alipay answers a refund at once, so there is nothing to settle here."""
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
