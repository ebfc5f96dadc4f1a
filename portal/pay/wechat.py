"""WeChat Pay notify routes: API v2 (POST /pay/wechat/notify) and API v3 (POST /pay/wechat/v3/notify).

A route reads at most 64 KiB, has its API module verify and parse the notify, and records it in one
transaction: a payment through `accept_payment`, a refund as a notification that the refunds module then
settles (`refund_notified`). A rejected notify is only logged: it changes nothing (as for Alipay).
"""
from __future__ import annotations

import logging

from flask import Response, jsonify, request
from sqlalchemy import select

from portal.extensions import db
from portal.models import NotifyOutcome, PaymentNotification, PaymentOrder
from portal.pay.blueprint import bp, commit_notify
from portal.pay.body import capped_body
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.providers.base import RefundNotice
from portal.payments.providers.wechat import v2 as wechat_v2
from portal.payments.providers.wechat import v3 as wechat_v3
from portal.payments.providers.wechat.common import NotifyRejected, WeChatPayError
from portal.payments.refunds import refund_notified

log = logging.getLogger(__name__)

#: the v3 headers kept with the notification (they carry the signature)
V3_HEADERS = ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial",
              "Wechatpay-Signature-Type")


@bp.post("/wechat/notify")
def wechat_notify():
    """API v2: XML signed MD5 with WECHAT_API_KEY (payments) or with an encrypted req_info (refunds)."""
    body = capped_body()
    try:
        if body is None:
            raise NotifyRejected("body larger than 64 KiB")
        notice = wechat_v2.verify_notify(body)
    except NotifyRejected as exc:
        log.warning("wechat v2 notify rejected from %s: %s", request.remote_addr, exc)
        return _v2_answer("FAIL", str(exc), 400)
    except WeChatPayError as exc:
        return _not_configured(exc, _v2_answer("FAIL", "not configured here", 503))
    _record(notice, "wechat_v2", body, None)
    return _v2_answer("SUCCESS", "OK", 200)


@bp.post("/wechat/v3/notify")
def wechat_v3_notify():
    """API v3: JSON with an AES-256-GCM resource, signed RSA-SHA256 in the Wechatpay-* headers."""
    body = capped_body()
    headers = {name: request.headers[name][:1024] for name in V3_HEADERS if name in request.headers}
    try:
        if body is None:
            raise NotifyRejected("body larger than 64 KiB", 413)
        notice = wechat_v3.verify_notify(body, request.headers)
    except NotifyRejected as exc:
        log.warning("wechat v3 notify rejected from %s: %s", request.remote_addr, exc)
        return jsonify(code="FAIL", message=str(exc)), exc.status
    except WeChatPayError as exc:
        return _not_configured(exc, (jsonify(code="FAIL", message="not configured here"), 503))
    _record(notice, "wechat_v3", body, headers)
    return Response(status=204)


def _not_configured(exc: WeChatPayError, answer):
    # Our settings, not the sender's fault: a 5xx makes WeChat Pay retry once they are in place.
    log.error("wechat notify not checked: %s", exc)
    return answer


def _text(body: bytes) -> str:
    # Verified bodies are UTF-8 (the modules checked); "replace" only guards the raw column.
    return body.decode("utf-8", "replace")


def _record(notice: VerifiedPayment | RefundNotice | None, source: str, body: bytes, headers: dict | None) -> None:
    """Record a verified notify and act on it, in one transaction."""
    session = db.session()
    if isinstance(notice, VerifiedPayment):
        accept_payment(session, notice, _text(body), headers)
    elif isinstance(notice, RefundNotice):
        record_refund(session, notice, _text(body), headers)
    else:
        session.add(PaymentNotification(source=source, outcome=NotifyOutcome.IGNORED, reason="event type not used",
                                        raw=_text(body), headers=headers))
    commit_notify(session)


def record_refund(session, notice: RefundNotice, raw: str, headers: dict | None) -> PaymentNotification:
    """Record a refund notify; the refunds module settles the refund it names (unless it is not for us)."""
    order = session.execute(
        select(PaymentOrder).where(PaymentOrder.out_trade_no == notice.out_trade_no)
    ).scalar_one_or_none()
    note = PaymentNotification(
        source=notice.source, outcome=NotifyOutcome.ANOMALY if notice.merchant_problem else NotifyOutcome.IGNORED,
        reason=(notice.merchant_problem or f"refund {notice.out_refund_no} {notice.status}")[:300],
        out_trade_no=notice.out_trade_no[:64], platform_trade_no=notice.refund_id[:64],
        amount_fen=notice.refund_fen, order_id=order.id if order else None, raw=raw, headers=headers,
    )
    session.add(note)
    session.flush()
    if not notice.merchant_problem:
        refund_notified(session, notice, note)
    return note


def _v2_answer(code: str, message: str, status: int) -> Response:
    message = message.replace("]]>", "]]]]><![CDATA[>")
    xml = (f"<xml><return_code><![CDATA[{code}]]></return_code>"
           f"<return_msg><![CDATA[{message}]]></return_msg></xml>")
    return Response(xml, status=status, mimetype="application/xml")
