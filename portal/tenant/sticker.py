"""The meter-box sticker's QR code: `/r/<token>` opens that shop's recharge page to anyone, signed in or not.

Anyone may pay into the shop (a neighbour, the shop's accountant, the tenant on a borrowed phone); only a tenant
bound to it sees its balance, meters and history, so a bound tenant goes on to the shop's own page. The page shows
the shop's code and name and the tenant pages' recharge form (portal.tenant.recharge); the order is the visitor's
by their session (portal.web.visitor), and its page follows the payment as the tenant's does, without the balance.
A token nobody issued is a 404 in the tenant layout (portal.web.errors).
"""
from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.extensions import db, limiter
from portal.models import Account, Meter, PaymentOrder, TenantUser
from portal.tenant.progress import order_progress
from portal.tenant.recharge import Refused, order_page_context, recharge_context, start_recharge
from portal.web.htmx import go_to, render
from portal.web.visitor import payer_actors, visitor_actor

bp = Blueprint("sticker", __name__, url_prefix="/r")

#: the longest token looked up (Account.sticker_token's column)
TOKEN_MAX = 32


def _shop(token: str) -> Account:
    account = db.session.scalar(select(Account).where(Account.sticker_token == token[:TOKEN_MAX]))
    if account is None:
        abort(404, description=_("This sticker's code is not known here. Ask the property office for a new "
                                 "sticker, or pay at the office."))
    return account


def _page(account: Account, *, refused: Refused | None = None):
    extra = dict(error=refused.message, chosen=refused.chosen, custom=refused.custom[:12]) if refused else {}
    return render("tenant/sticker.html", "tenant/_recharge.html", refused=refused is not None, account=account,
                  login_url=url_for("auth.tenant_login", next=url_for("sticker.page", token=account.sticker_token)),
                  **recharge_context(account, pay_url=url_for("sticker.pay", token=account.sticker_token), **extra))


@bp.get("/<token>")
def page(token: str):
    """The shop's public recharge page; its own page for a tenant bound to it."""
    account = _shop(token)
    if isinstance(current_user, TenantUser) and account.id in {a.id for a in current_user.accounts}:
        return redirect(url_for("tenant.account", account_id=account.id))
    return _page(account)


@bp.post("/<token>/pay")
@limiter.limit("20 per minute")
def pay(token: str):
    """Pay into the sticker's shop: the order is made in this visitor's name, then its page follows it."""
    account = _shop(token)
    started = start_recharge(account, visitor_actor(),
                             lambda no: url_for("sticker.order", token=account.sticker_token, out_trade_no=no))
    if isinstance(started, Refused):
        db.session.rollback()
        return _page(account, refused=started)
    db.session.commit()
    return go_to(url_for("sticker.order", token=account.sticker_token, out_trade_no=started.out_trade_no))


@bp.get("/<token>/orders/<out_trade_no>")
def order(token: str, out_trade_no: str):
    """A visitor's order: how to pay, and its progress (polled), for the session that made it only."""
    account = _shop(token)
    found = db.session.execute(
        select(PaymentOrder).where(PaymentOrder.out_trade_no == out_trade_no[:32])
        .options(joinedload(PaymentOrder.account).selectinload(Account.meters).selectinload(Meter.state))
    ).scalar_one_or_none()
    if found is None or found.account_id != account.id or found.created_by not in payer_actors():
        abort(404)
    return render("tenant/order.html", "tenant/_order_progress.html", page_only=lambda: order_page_context(found),
                  order=found, progress=order_progress(db.session, found),
                  order_url=url_for("sticker.order", token=token, out_trade_no=found.out_trade_no),
                  shop_url=url_for("sticker.page", token=token))
