"""Orders and counter recharges through the API (SPEC §4)."""
from __future__ import annotations

import re
import uuid

from flask import g, jsonify, request

from portal.api.blueprint import ApiError, bp, json_body
from portal.api.resources import find_in_scope
from portal.approvals.proposals import needs_approval
from portal.extensions import db
from portal.ledger.entries import DuplicateEntryMismatch
from portal.models import Account, Channel, PaymentOrder
from portal.money import format_yuan
from portal.payments.credit import post_cash
from portal.payments.orders import AccountClosed, PaymentError, create_order
from portal.payments.providers.registry import ChannelUnavailable, start_payment
from portal.web.access import scope_to_sites
from portal.web.roles import may_open

ORDER_CHANNELS = ("alipay_wap", "alipay_qr", "wechat_native", "wechat_jsapi")
#: the optional text of an order request, and how long each may be (the payer's column holds 64)
OPTIONAL_TEXT = {"openid": 64, "return_url": 500}
#: what a cash recharge through the API may be at most, in fen (the counter's own limit may be lower)
CASH_MAX_FEN = 10_000_000
#: an Idempotency-Key: printable ASCII, as long as the ledger's key column leaves room for
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,100}")


def order_json(order: PaymentOrder) -> dict:
    """The API shape of an order."""
    return {"out_trade_no": order.out_trade_no, "status": order.status.value, "amount_fen": order.amount_fen,
            "account": order.account.code, "channel": order.channel.value}


@bp.post("/orders")
def post_order():
    """Create an order and return the channel data the payer needs."""
    body = json_body("account", "channel", *OPTIONAL_TEXT)
    if body.get("channel") not in ORDER_CHANNELS:
        raise ApiError(400, "invalid_channel", f"channel must be one of {', '.join(ORDER_CHANNELS)}")
    if not isinstance(body.get("account"), str):
        raise ApiError(400, "invalid_request", "account must be an account code")
    for name, longest in OPTIONAL_TEXT.items():
        if not isinstance(body.get(name, ""), str) or len(body.get(name, "")) > longest:
            raise ApiError(400, "invalid_request", f"{name} must be a string of at most {longest} characters")
    account = find_in_scope(Account, body["account"])
    context = {"client_ip": request.remote_addr or "127.0.0.1", "openid": body.get("openid") or "",
               "return_url": body.get("return_url") or ""}
    try:
        order = create_order(db.session, account, body.get("amount_fen"), Channel(body["channel"]),
                             f"api:{g.api_user.username}", payer=context["openid"])
        data = start_payment(order, context)
    except AccountClosed as exc:
        db.session.rollback()
        raise ApiError(409, "account_closed", str(exc)) from None
    except PaymentError as exc:
        db.session.rollback()
        raise ApiError(400, "invalid_amount", str(exc)) from None
    except ChannelUnavailable as exc:
        db.session.rollback()
        raise ApiError(503, "channel_unavailable", str(exc)) from None
    db.session.commit()
    return jsonify({**order_json(order), **data}), 201


@bp.get("/orders/<out_trade_no>")
def get_order(out_trade_no: str):
    """An order's status."""
    order = db.session.execute(
        scope_to_sites(db.select(PaymentOrder).join(Account).where(PaymentOrder.out_trade_no == out_trade_no),
                       Account.site_id, g.api_user)
    ).scalar_one_or_none()
    if order is None:
        raise ApiError(404, "not_found", f"no order {out_trade_no!r} in your sites")
    return jsonify(order_json(order))


@bp.post("/accounts/<code>/cash-recharges")
def post_cash_recharge(code: str):
    """A cash or transfer recharge at the counter; send Idempotency-Key to make a retry safe."""
    if not may_open(g.api_user.role, "counter"):  # a recharge is the counter's work, by API too
        raise ApiError(403, "forbidden", f"role {g.api_user.role.value} may not post recharges")
    body = json_body("note")
    amount = body.get("amount_fen")
    if type(amount) is not int or amount <= 0 or amount > CASH_MAX_FEN:
        raise ApiError(400, "invalid_amount", f"amount_fen must be a positive integer (at most {CASH_MAX_FEN:,})")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 200:
        raise ApiError(400, "invalid_request", "note must be a string of at most 200 characters")
    sent = request.headers.get("Idempotency-Key")  # absent: a key of our own; sent, even empty: it must be one
    if sent is not None and not IDEMPOTENCY_KEY.fullmatch(sent.strip()):
        raise ApiError(400, "invalid_request", "Idempotency-Key must be 1 to 100 printable ASCII characters")
    key = sent.strip() if sent is not None else uuid.uuid4().hex
    account = find_in_scope(Account, code)
    if needs_approval(account.site, amount):  # two people for big money: the counter's proposal, not the API
        raise ApiError(403, "needs_approval", f"recharges above {format_yuan(account.site.counter_limit_fen)} yuan "
                                              "need a manager's approval: propose it at the counter")
    try:
        posted = post_cash(db.session, account, amount, note, f"api:{g.api_user.username}", f"api:{key}",
                           method="api")
    except AccountClosed as exc:
        db.session.rollback()
        raise ApiError(409, "account_closed", str(exc)) from None
    except PaymentError as exc:
        db.session.rollback()
        raise ApiError(400, "above_max_balance", str(exc)) from None
    except DuplicateEntryMismatch:
        db.session.rollback()
        raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was sent with another body") from None
    entry = posted.entry
    if not posted.created and (entry.account_id, entry.memo) != (account.id, note[:200]):
        db.session.rollback()
        raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was sent with another body")
    db.session.commit()
    return jsonify(entry_id=entry.id, account=account.code, amount_fen=entry.amount_fen,
                   balance_fen=account.balance_fen), 201
