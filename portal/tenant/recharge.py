"""The tenant pays: amount chips and channels on the shop page, then the order page that follows the payment.

The POST (`start_recharge`, shared with the sticker's public page, portal.tenant.sticker) creates the order and
asks its platform for pay data (QR, pay URL or WeChat JSAPI parameters); that answer is kept in the order's audit
entry `order.pay_started`, so the order page can show it again after a reload without asking the platform twice.
"""
from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.audit import audit
from portal.extensions import db, limiter
from portal.metering.daily import business_today, day_start
from portal.models import Account, AccountStatus, AuditEntry, Meter, OrderStatus, PaymentOrder
from portal.money import format_yuan
from portal.payments.orders import PaymentError, cap_room_fen, create_order
from portal.payments.providers.registry import ChannelUnavailable, available, start_payment
from portal.settings import current, public_url
from portal.tenant.blueprint import bp, is_own, own_account
from portal.tenant.charts import daily_charge_fen, shop_usage
from portal.tenant.progress import (
    PRESETS_FEN,
    AmountError,
    in_wechat,
    nice_amount,
    order_progress,
    parse_amount,
    pay_options,
    suggest_presets,
)
from portal.tenant.status import CHANGED, status_context
from portal.tenant.supply import supply_state
from portal.web.htmx import go_to, render

#: today's orders shown on the shop page, newest first
TODAY_SHOWN = 5

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


def _openid() -> str | None:
    """The payer's WeChat openid (JSAPI needs it): a signed-in tenant's, when WeChat signed them in."""
    return getattr(current_user, "wechat_openid", None)


def recharge_context(acct: Account, daily_fen: int | None = None, restore_fen: int | None = None, **extra) -> dict:
    """What the recharge section needs: the chips, the channels this browser may use, where the form posts.

    The tenant's own page suggests chips from the shop's recent daily charge and, when its supply is off for
    money, what brings it back (`daily_fen`, `restore_fen`); the sticker's public page, open to anyone, shows the
    standard chips and so tells nobody what the shop uses.
    """
    channels = pay_options(request.user_agent.string, _openid(), available())
    presets = suggest_presets(daily_fen or 0, restore_fen)
    if restore_fen is not None:
        default = -(-restore_fen // 100) * 100
    else:
        default = nice_amount(daily_fen * 7) if daily_fen else PRESETS_FEN[1]
    context = dict(presets=presets, default_fen=default if default in presets else presets[min(1, len(presets) - 1)],
                   restore_fen=restore_fen, channels=channels, channel_labels=CHANNEL_LABELS,
                   in_wechat=in_wechat(request.user_agent.string), error=None, chosen=None, custom="",
                   pay_url=url_for("tenant.pay", account_id=acct.id), refresh_url=None)
    context.update(extra)
    return context


def shop_suggestions(acct: Account, usage: list | None = None, restore_fen: int | None = None) -> dict:
    """The tenant's chips of this shop as its page shows them (from its recent use and its supply), and where the
    section fetches itself again when the page says shop-changed."""
    if usage is None:
        usage, restore_fen = shop_usage(db.session, acct), supply_state(acct).restore_fen
    return dict(daily_fen=daily_charge_fen(usage, acct), restore_fen=restore_fen,
                refresh_url=url_for("tenant.recharge", account_id=acct.id))


@bp.get("/a/<int:account_id>/recharge")
def recharge(account_id: int):
    """The recharge section again (after a payment or emergency credit its chips may differ); without htmx, the
    shop page."""
    acct = own_account(account_id, selectinload(Account.meters).selectinload(Meter.state))
    return render("tenant/account.html", "tenant/_recharge.html", page_only=lambda: _whole_page(acct),
                  account=acct, **recharge_context(acct, **shop_suggestions(acct)))


@dataclass(frozen=True)
class Refused:
    """A recharge form not taken: why (for the payer), and what they had chosen (to show the form again)."""

    message: str
    chosen: str | None
    custom: str


def start_recharge(acct: Account, actor: str, order_page: Callable[[str], str]) -> PaymentOrder | Refused:
    """Take this request's recharge form for `acct`: the order made and started with its platform (not yet
    committed), or why not. `order_page(out_trade_no)` is the order's page, where the platform sends the payer
    back."""
    chosen, custom = request.form.get("amount"), (request.form.get("custom") or "").strip()
    try:
        amount = parse_amount(chosen, custom)
    except AmountError as exc:
        return Refused(_amount_message(exc.code), chosen, custom)
    channel, openid = request.form.get("channel", ""), _openid() or ""
    if channel not in pay_options(request.user_agent.string, openid, available()):
        return Refused(_("Choose a way to pay."), chosen, custom)
    if acct.status != AccountStatus.ACTIVE:
        return Refused(_("This account is closed."), chosen, custom)
    room = cap_room_fen(db.session, acct)  # orders still open count: paid together they must fit too
    if room is not None and amount > room:
        return Refused(_("The balance may not exceed ¥%(cap)s; choose a smaller amount.",
                         cap=format_yuan(acct.site.max_balance_fen)), chosen, custom)
    try:
        order = create_order(db.session, acct, amount, channel, actor, payer=openid)
        data = start_payment(order, {"client_ip": request.remote_addr or "127.0.0.1", "openid": openid,
                                     "return_url": public_url(order_page(order.out_trade_no))})
    except PaymentError as exc:
        return Refused(str(exc), chosen, custom)
    except ChannelUnavailable:
        current_app.logger.exception("channel %s could not start a payment", channel)
        return Refused(_("This way to pay is not available right now; please try another."), chosen, custom)
    audit(db.session, actor, "order.pay_started", "payment_order", order.id, acct.site_id,
          **{k: v for k, v in data.items() if k in ("pay_url", "qr_code", "qr_svg", "code_url", "jsapi_params")})
    return order


def _refuse(acct: Account, refused: Refused):
    """The form again with the message: the section alone for htmx, the whole page otherwise."""
    db.session.rollback()
    acct = own_account(acct.id, selectinload(Account.meters).selectinload(Meter.state))
    return render("tenant/account.html", "tenant/_recharge.html", refused=True,
                  page_only=lambda: _whole_page(acct), account=acct,
                  **recharge_context(acct, **shop_suggestions(acct), error=refused.message, chosen=refused.chosen,
                                     custom=refused.custom[:12]))


def _whole_page(acct: Account) -> dict:
    """The rest of the shop page around a refused form (no JavaScript): the status, use and today's orders."""
    return {**status_context(acct), "usage": shop_usage(db.session, acct), **today_orders_context(acct)}


@bp.post("/a/<int:account_id>/pay")
@limiter.limit("20 per minute")
def pay(account_id: int):
    """Create the order, ask its platform for pay data, and go to the order page."""
    acct = own_account(account_id)
    started = start_recharge(acct, current_user.actor, lambda no: url_for("tenant.order", out_trade_no=no))
    if isinstance(started, Refused):
        return _refuse(acct, started)
    db.session.commit()
    return go_to(url_for("tenant.order", out_trade_no=started.out_trade_no))


@bp.get("/orders/<out_trade_no>")
def order(out_trade_no: str):
    """The order page: how to pay (QR, button, WeChat's pay sheet) and a progress partial that polls."""
    found = db.session.execute(
        select(PaymentOrder).where(PaymentOrder.out_trade_no == out_trade_no[:32])
        .options(joinedload(PaymentOrder.account).selectinload(Account.meters).selectinload(Meter.state))
    ).scalar_one_or_none()
    if found is None or not is_own(found.account_id):
        abort(404)
    return render("tenant/order.html", "tenant/_order_progress.html", page_only=lambda: order_page_context(found),
                  order=found, progress=order_progress(db.session, found),
                  order_url=url_for("tenant.order", out_trade_no=found.out_trade_no),
                  shop_url=url_for("tenant.account", account_id=found.account_id))


def order_page_context(order: PaymentOrder) -> dict:
    """What only the whole order page shows: how to pay, while the order waits for it."""
    return {"pay": _pay_data(order) if order.status == OrderStatus.CREATED else {}, "channel_labels": CHANNEL_LABELS}


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


# --- today's orders on the shop page ------------------------------------------------------------------------

def today_orders_context(acct: Account) -> dict:
    """The shop's orders of today (business day), newest first, each with its progress, and a signature of their
    states: the part polls while one is under way, and says `shop-changed` when the signature moves."""
    since = day_start(business_today())
    found = db.session.execute(
        select(PaymentOrder).where(PaymentOrder.account_id == acct.id, PaymentOrder.created_at >= since)
        .order_by(PaymentOrder.id.desc()).limit(TODAY_SHOWN)).scalars().all()
    rows = [(o, order_progress(db.session, o)) for o in found]
    return dict(today_orders=rows, today_pending=any(not p.done for _o, p in rows),
                today_seen=",".join(f"{o.id}:{p.state}" for o, p in rows),
                today_url=url_for("tenant.today_orders", account_id=acct.id))


@bp.get("/a/<int:account_id>/orders/today")
def today_orders(account_id: int):
    """Today's orders of the shop; when their states moved since the page's `seen`, the rest of the page is told
    (HX-Trigger shop-changed) to look again: the balance, the days left and the supply follow the payment."""
    acct = own_account(account_id, selectinload(Account.meters).selectinload(Meter.state))
    context = today_orders_context(acct)
    response = render("tenant/account.html", "tenant/_today_orders.html",
                      page_only=lambda: {**_whole_page(acct), **recharge_context(acct, **shop_suggestions(acct))},
                      account=acct, channel_labels=CHANNEL_LABELS, **context)
    if request.args.get("seen", "")[:2_000] != context["today_seen"]:
        response.headers["HX-Trigger"] = CHANGED
    return response
