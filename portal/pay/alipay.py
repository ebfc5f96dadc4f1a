"""Alipay notify route (POST /pay/alipay/notify) and the demo sandbox pay page."""
from __future__ import annotations

import logging

from flask import abort, current_app, flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from portal.extensions import csrf, db
from portal.models import Channel, OrderStatus, PaymentOrder, Role
from portal.pay.blueprint import bp, commit_notify
from portal.pay.body import capped_body
from portal.payments.notify import RAW_LIMIT
from portal.payments.providers import sandbox
from portal.payments.providers.alipay.api import AlipayConfigError
from portal.payments.providers.alipay.notify import InvalidNotify, accept_notify, parse_form
from portal.web.visitor import PREFIX as VISITOR_PREFIX
from portal.web.visitor import payer_actors

log = logging.getLogger(__name__)


def _answer(text: str, status: int = 200):
    return text, status, {"Content-Type": "text/plain; charset=utf-8"}


@bp.post("/alipay/notify")
def alipay_notify():
    """Alipay's asynchronous notify: `success` once accepted (or already known), HTTP 400 `fail` when rejected."""
    body = capped_body()
    if body is None:
        log.warning("alipay notify rejected: body larger than %d bytes", RAW_LIMIT)
        return _answer("fail", 400)
    try:
        # The demo sandbox's merchant is a second candidate key, for notifies carrying its app id.
        outcome = accept_notify(db.session, parse_form(body), body.decode("ascii"), sandbox=sandbox.alipay_config())
    except InvalidNotify as exc:
        db.session.rollback()
        log.warning("alipay notify rejected from %s: %s", request.remote_addr, exc)
        return _answer("fail", 400)
    except AlipayConfigError as exc:
        db.session.rollback()
        log.error("alipay notify not checked: %s", exc)
        return _answer("fail", 503)  # our fault, not the sender's: Alipay retries later
    commit_notify(db.session())
    log.info("alipay notify %s", outcome.value)
    return _answer("success")


@bp.route("/sandbox/<out_trade_no>", methods=["GET", "POST"])
def sandbox_pay(out_trade_no: str):
    """The demo's stand-in for Alipay's cashier: shows the order; paying sends a signed notify to ourselves."""
    if sandbox.missing():
        abort(404)
    order = db.session.execute(select(PaymentOrder).where(PaymentOrder.out_trade_no == out_trade_no,
                                                          PaymentOrder.channel == Channel.SANDBOX)).scalar_one_or_none()
    if order is None or order.created_by not in payer_actors():
        abort(404)  # only the session that made the order may see or pay it
    if request.method == "GET":
        return render_template("pay/sandbox.html", order=order)
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()  # the pay blueprint is exempt for notifies; this form is a person's, so it is checked
    if order.status == OrderStatus.CREATED:
        fields = sandbox.signed_notify(order)
        db.session.rollback()  # hold no transaction while our own notify route works on this order
        status, text = sandbox.deliver_notify(fields)
        if status != 200 or text != "success":
            log.error("sandbox notify for %s answered %s %r", out_trade_no, status, text[:200])
            flash(_notice_undelivered(status), "error")
            return redirect(request.path)
    return redirect(_order_page(order) or request.path)


def _notice_undelivered(status: int | None) -> str:
    """Why the sandbox payment did not go through: the setting to check for an admin, plain words for others."""
    status = status or _("no answer")
    if getattr(current_user, "role", None) == Role.ADMIN:
        return _("The payment notice could not be delivered (%(status)s). Check PUBLIC_BASE_URL.", status=status)
    return _("The payment notice could not be delivered (%(status)s). Please tell an administrator.", status=status)


def _order_page(order: PaymentOrder) -> str | None:
    """The payer's page of the order: a tenant's, or a visitor's on the sticker's page (portal.web.visitor)."""
    token = order.account.sticker_token
    if order.created_by.startswith(VISITOR_PREFIX) and token:
        path = f"/r/{token}/orders/{order.out_trade_no}"
    else:
        path = f"/t/orders/{order.out_trade_no}"
    try:
        current_app.url_map.bind("localhost").match(path, method="GET")
    except NotFound:
        return None
    except (RequestRedirect, MethodNotAllowed):  # the page exists under a slash or another method
        return path
    return path
