"""The tenant pays: amount chips and channels on the shop page, then the order page that follows the payment.

The POST creates the order and asks its platform for pay data (QR, pay URL or WeChat JSAPI
parameters); that answer is kept in the order's audit entry `order.pay_started`, so the order page
can show it again after a reload without asking the platform twice.
"""
from __future__ import annotations

import base64

from flask import abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.audit import audit
from portal.extensions import db, limiter
from portal.models import Account, AccountStatus, AuditEntry, Meter, OrderStatus, PaymentOrder
from portal.money import format_yuan
from portal.payments.orders import PaymentError, cap_room_fen, create_order
from portal.payments.providers.registry import ChannelUnavailable, available, start_payment
from portal.settings import current, public_url
from portal.tenant.blueprint import bp, is_own, own_account
from portal.tenant.days import days_context
from portal.tenant.progress import PRESETS_FEN, AmountError, in_wechat, order_progress, parse_amount, pay_options
from portal.web.htmx import go_to, render

CHANNEL_LABELS = {
    "wechat_jsapi": _l("WeChat Pay"), "wechat_native": _l("WeChat Pay QR code"), "alipay_wap": _l("Alipay"),
    "alipay_qr": _l("Alipay QR code"), "sandbox": _l("Demo payment (sandbox)"),
}


def _amount_message(code: str) -> str:
    limits = current().payments
    return {
        "choose": _("Choose an amount."),
        "format": _("Enter the amount in yuan, with at most two decimals (e.g. 200 or 88.50)."),
        "too_small": _("The smallest payment is ¥%(min)s.", min=format_yuan(limits.min_fen)),
        "too_large": _("The largest payment is ¥%(max)s.", max=format_yuan(limits.max_fen)),
    }[code]


def recharge_context(acct: Account, **extra) -> dict:
    """What the recharge section needs: the chips, the channels this browser may use."""
    channels = pay_options(request.user_agent.string, current_user.wechat_openid, available())
    context = dict(presets=PRESETS_FEN, channels=channels, channel_labels=CHANNEL_LABELS,
                   in_wechat=in_wechat(request.user_agent.string), error=None, chosen=None, custom="")
    context.update(extra)
    return context


def _refuse(acct: Account, message: str, chosen=None, custom: str = ""):
    """The form again with the message: the section alone for htmx, the whole page otherwise."""
    db.session.rollback()
    acct = own_account(acct.id, selectinload(Account.meters).selectinload(Meter.state))
    return render("tenant/account.html", "tenant/_recharge.html", refused=True, page_only=lambda: days_context(acct),
                  account=acct, **recharge_context(acct, error=message, chosen=chosen, custom=custom[:12]))


@bp.post("/a/<int:account_id>/pay")
@limiter.limit("20 per minute")
def pay(account_id: int):
    """Create the order, ask its platform for pay data, and go to the order page."""
    acct = own_account(account_id)
    chosen, custom = request.form.get("amount"), (request.form.get("custom") or "").strip()
    try:
        amount = parse_amount(chosen, custom)
    except AmountError as exc:
        return _refuse(acct, _amount_message(exc.code), chosen, custom)
    channel = request.form.get("channel", "")
    if channel not in pay_options(request.user_agent.string, current_user.wechat_openid, available()):
        return _refuse(acct, _("Choose a way to pay."), chosen, custom)
    if acct.status != AccountStatus.ACTIVE:
        return _refuse(acct, _("This account is closed."), chosen, custom)
    room = cap_room_fen(db.session, acct)  # orders still open count: paid together they must fit too
    if room is not None and amount > room:
        return _refuse(acct, _("The balance may not exceed ¥%(cap)s; choose a smaller amount.",
                               cap=format_yuan(acct.site.max_balance_fen)), chosen, custom)
    openid = current_user.wechat_openid or ""
    try:
        order = create_order(db.session, acct, amount, channel, current_user.actor, payer=openid)
        data = start_payment(order, {"client_ip": request.remote_addr or "127.0.0.1", "openid": openid,
                                     "return_url": _public(url_for("tenant.order", out_trade_no=order.out_trade_no))})
    except PaymentError as exc:
        return _refuse(acct, str(exc), chosen, custom)
    except ChannelUnavailable:
        current_app.logger.exception("channel %s could not start a payment", channel)
        return _refuse(acct, _("This way to pay is not available right now; please try another."), chosen, custom)
    audit(db.session, current_user.actor, "order.pay_started", "payment_order", order.id, acct.site_id,
          **{k: v for k, v in data.items() if k in ("pay_url", "qr_code", "qr_svg", "code_url", "jsapi_params")})
    db.session.commit()
    return go_to(url_for("tenant.order", out_trade_no=order.out_trade_no))


def _public(path: str) -> str:
    return public_url(path)


@bp.get("/orders/<out_trade_no>")
def order(out_trade_no: str):
    """The order page: how to pay (QR, button, WeChat's pay sheet) and a progress partial that polls."""
    found = db.session.execute(
        select(PaymentOrder).where(PaymentOrder.out_trade_no == out_trade_no[:32])
        .options(joinedload(PaymentOrder.account).selectinload(Account.meters).selectinload(Meter.state))
    ).scalar_one_or_none()
    if found is None or not is_own(found.account_id):
        abort(404)
    return render("tenant/order.html", "tenant/_order_progress.html",
                  page_only=lambda: {"pay": _pay_data(found) if found.status == OrderStatus.CREATED else {},
                                     "channel_labels": CHANNEL_LABELS},
                  order=found, progress=order_progress(db.session, found))


def _pay_data(order: PaymentOrder) -> dict:
    """The platform's pay data kept when the order started, made safe to show."""
    detail = db.session.scalar(
        select(AuditEntry.detail).where(AuditEntry.target_type == "payment_order", AuditEntry.target_id == order.id,
                                        AuditEntry.action == "order.pay_started")
        .order_by(AuditEntry.id.desc()).limit(1)) or {}
    shown = {}
    url = detail.get("pay_url")
    if isinstance(url, str) and url.startswith(("https://", "http://", "/")):
        shown["pay_url"] = url
    if isinstance(detail.get("qr_svg"), str):
        # as an <img>, an SVG can draw but never run anything
        shown["qr_src"] = "data:image/svg+xml;base64," + base64.b64encode(detail["qr_svg"].encode()).decode()
    if isinstance(detail.get("jsapi_params"), dict):
        shown["jsapi_params"] = detail["jsapi_params"]
    return shown
