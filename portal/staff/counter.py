"""The counter (收费台) for cashiers and managers: find a shop, take cash, print receipts, reverse, close, swap.

Views stay thin: the rules are in portal.counter and portal.approvals. Big money needs two people: closing,
transferring, adjusting, replacing a meter and recharging above the site's limit are proposed here and run
when a manager approves them on /staff/approvals (portal.staff.approvals). Every page is scoped to the
user's sites (portal.web.access); a row of another site is a 404.
"""
from __future__ import annotations

import re
import uuid
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.approvals import proposals
from portal.counter import operations as ops
from portal.counter.operations import CounterError
from portal.extensions import db
from portal.metering import swap
from portal.models import (
    Account,
    EntryKind,
    LedgerEntry,
    Meter,
    OrderStatus,
    PaymentOrder,
    Proposal,
    ProposalStatus,
    Receipt,
    Refund,
    Role,
    TenantBinding,
    TenantUser,
)
from portal.money import parse_yuan
from portal.payments.providers.registry import available, can_refund
from portal.payments.refunds import NOT_SET_UP, refundable_balance_fen, refundable_fen
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.htmx import is_htmx, render
from portal.web.labels import label

#: how a receipt number is typed into the counter's search (portal.ledger.receipts)
RECEIPT_NUMBER = re.compile(r"\d{4}-\d{6}")

#: ledger kinds the counter shows and prints receipts for
COUNTER_KINDS = (EntryKind.CASH, EntryKind.REVERSAL, EntryKind.SETTLEMENT, EntryKind.TRANSFER, EntryKind.REFUND,
                 EntryKind.ADJUSTMENT)


#: the words for ledger kinds, report sections and channels on counter pages
ENTRY_LABELS = {
    "cash:cash": _l("Cash recharge"), "cash:transfer": _l("Bank transfer recharge"), "cash:api": _l("Recharge (API)"),
    "reversal": _l("Reversal"), "settlement": _l("Closure settlement"), "transfer": _l("Balance transfer"),
    "refund": _l("Refund"), "adjustment": _l("Manual adjustment"),
}
SECTION_TITLES = {
    "payment": _l("Platform payments"), "cash": _l("Counter recharges"), "reversal": _l("Reversals"),
    "refund": _l("Refunds"), "settlement": _l("Closure payouts"), "transfer": _l("Balance transfers"),
}
DETAIL_LABELS = {
    "cash": _l("cash"), "transfer": _l("bank transfer"), "api": _l("API"), "": "—",
}  # channels: portal.web.labels
REFUND_LABELS = {
    "requested": _l("waiting for a manager"), "rejected": _l("rejected"), "approved": _l("approved, sending"),
    "succeeded": _l("refunded"), "failed": _l("failed"),
}


@bp.context_processor
def counter_labels() -> dict:
    """Label helpers for the counter templates."""
    def entry_label(entry: LedgerEntry) -> str:
        key = f"cash:{ops.method_of(entry)}" if entry.kind == EntryKind.CASH else entry.kind.value
        return ENTRY_LABELS.get(key, entry.kind.value)

    def receipt_title(entry: LedgerEntry, method: str) -> str:
        return _("Receipt: %(what)s", what=entry_label(entry))

    def refund_error(refund) -> str:
        """Why a refund failed, as this reader should read it: a channel not set up names its settings to
        administrators only; everyone else is told whom to ask."""
        if refund.error.startswith(NOT_SET_UP) and current_user.role != Role.ADMIN:
            return _("This payment's platform is not set up here yet: ask an administrator.")
        return refund.error

    return dict(entry_label=entry_label, receipt_title=receipt_title, refund_error=refund_error,
                refund_status_label=lambda s: REFUND_LABELS.get(s.value, s.value),
                detail_label=lambda d: DETAIL_LABELS.get(d) or label(d), section_titles=SECTION_TITLES,
                sections=list(SECTION_TITLES.items()))


def _tz() -> ZoneInfo:
    return business_tz()


@bp.get("/counter/")
@require_area("counter")
def counter():
    """Find a shop by account code, shop name, tenant name, or a phone on file or of a tenant user bound to it;
    or a receipt by its number (2026-000123), which a plain search opens at once when it is the only match."""
    q = (request.args.get("q") or "").strip()[:40]
    accounts, receipts = [], []
    if RECEIPT_NUMBER.fullmatch(q):
        receipts = db.session.scalars(
            scoped(select(LedgerEntry).join(Receipt, Receipt.entry_id == LedgerEntry.id)
                   .where(Receipt.number == q), Receipt.site_id).options(joinedload(LedgerEntry.account))).all()
        if len(receipts) == 1 and not is_htmx():
            return redirect(url_for("staff.counter_receipt", entry_id=receipts[0].id), 303)
    if q:
        like = f"%{q}%"
        bound_phone = select(TenantBinding.account_id).join(TenantUser).where(TenantUser.phone.like(like))
        query = scoped(select(Account).where(or_(
            Account.code.ilike(like), Account.name.ilike(like), Account.tenant_name.ilike(like),
            Account.phone.like(like), Account.id.in_(bound_phone))), Account.site_id)
        accounts = db.session.scalars(query.order_by(Account.code).limit(50)).all()
    return render("staff/counter/search.html", "staff/counter/_results.html", q=q, accounts=accounts,
                  receipts=receipts, channels=available())


@bp.get("/counter/a/<int:account_id>")
@require_area("counter")
def counter_account(account_id: int):
    """One shop at the counter: balance, recharge form, recent counter entries, payments to refund."""
    account = scoped_or_404(Account, account_id)
    entries = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.account_id == account.id, LedgerEntry.kind.in_(COUNTER_KINDS))
        .order_by(LedgerEntry.created_at.desc()).limit(20)).all()
    reversed_ids = set(db.session.scalars(select(LedgerEntry.reverses_id).where(
        LedgerEntry.reverses_id.in_([e.id for e in entries]))))
    orders = db.session.scalars(
        select(PaymentOrder).where(PaymentOrder.account_id == account.id,
                                   PaymentOrder.status.in_((OrderStatus.CREDITED, OrderStatus.REFUNDED)))
        .order_by(PaymentOrder.created_at.desc()).limit(10)).all()
    refunds = db.session.scalars(
        select(Refund).join(Refund.order).where(PaymentOrder.account_id == account.id)
        .options(selectinload(Refund.order)).order_by(Refund.id.desc()).limit(10)).all()
    meters = db.session.scalars(select(Meter).where(Meter.account_id == account.id)
                                .options(selectinload(Meter.state)).order_by(Meter.code)).all()
    waiting = db.session.scalars(select(Proposal).where(Proposal.account_id == account.id,
                                                        Proposal.status == ProposalStatus.PROPOSED)
                                 .order_by(Proposal.id)).all()
    from_balance = refundable_balance_fen(db.session, account)
    no_refunds = {o.id for o in orders if not can_refund(o.channel)}  # the sandbox: no button to press in vain
    return render_template(
        "staff/counter/account.html", account=account, entries=entries, reversed_ids=reversed_ids,
        orders=orders, no_refunds=no_refunds, refundable_balance=from_balance, refunds=refunds, meters=meters,
        refundable={o.id: 0 if o.id in no_refunds else min(refundable_fen(db.session, o), from_balance)
                    for o in orders},
        waiting=waiting,
        # a fresh key for every form on the page: one form sent twice is one operation (or one proposal)
        keys={name: uuid.uuid4().hex for name in ("recharge", "transfer", "adjust", "close",
                                                   *(f"swap{m.id}" for m in meters))},
        may_reverse=lambda e: ops.may_reverse(current_user.role, current_user.actor, e, _tz()),
    )


@bp.post("/counter/a/<int:account_id>/recharge")
@require_area("counter")
def counter_recharge(account_id: int):
    """Cash or transfer recharge (above the site's limit: a proposal); the same form twice is one recharge."""
    account = scoped_or_404(Account, account_id)
    try:
        amount = parse_yuan(request.form.get("amount"))
    except ValueError:
        return _back(account, _("Enter the amount in yuan, with at most two decimals (e.g. 200 or 88.50)."))
    try:
        done = proposals.recharge(db.session, account, amount, request.form.get("method", ""),
                                  request.form.get("note", ""), current_user.actor, request.form.get("key", ""))
    except CounterError as exc:
        db.session.rollback()
        return _back(account, str(exc))
    db.session.commit()
    if done.proposal is not None:
        return _proposed(account, done.proposal)
    return redirect(url_for("staff.counter_receipt", entry_id=done.entry.id), 303)


def _proposed(account: Account, proposal: Proposal):
    flash(_("Proposal %(no)s is waiting for a manager's approval (Approvals).", no=proposal.id), "info")
    return redirect(url_for("staff.counter_account", account_id=account.id), 303)


def _back(account: Account, message: str):
    flash(message, "error")
    return redirect(url_for("staff.counter_account", account_id=account.id), 303)


@bp.get("/counter/receipts/<int:entry_id>")
@require_area("counter")
def counter_receipt(entry_id: int):
    """A printable receipt; its number is the ledger entry's id."""
    entry = scoped_or_404(LedgerEntry, entry_id, site_of=lambda e: e.account.site_id)
    if entry.kind not in COUNTER_KINDS:
        abort(404)
    counterpart = None
    if entry.kind == EntryKind.TRANSFER:
        base, _sep, side = entry.idempotency_key.rpartition(":")
        counterpart = db.session.scalar(select(LedgerEntry).where(
            LedgerEntry.idempotency_key == f"{base}:{'in' if side == 'out' else 'out'}"))
    return render_template(
        "staff/counter/receipt.html", entry=entry, account=entry.account, site=entry.account.site,
        original=db.session.get(LedgerEntry, entry.reverses_id) if entry.reverses_id else None,
        reversal=ops.reversal_of(db.session, entry), counterpart=counterpart, method=ops.method_of(entry),
        may_reverse=ops.may_reverse(current_user.role, current_user.actor, entry, _tz()),
    )


@bp.post("/counter/receipts/<int:entry_id>/reverse")
@require_area("counter")
def counter_reverse(entry_id: int):
    """冲正 of a counter recharge, by a manager or by the cashier who took it, the same day."""
    entry = scoped_or_404(LedgerEntry, entry_id, site_of=lambda e: e.account.site_id)
    if not ops.may_reverse(current_user.role, current_user.actor, entry, _tz()):
        abort(403)
    try:
        reversal = ops.reverse_entry(db.session, entry, request.form.get("reason", ""), current_user.actor)
    except CounterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("staff.counter_receipt", entry_id=entry.id), 303)
    db.session.commit()
    return redirect(url_for("staff.counter_receipt", entry_id=reversal.id), 303)


@bp.post("/counter/a/<int:account_id>/close")
@require_area("counter")
def counter_close(account_id: int):
    """销户: the cashier types the account code to confirm; a manager approves, and the payout receipt follows."""
    account = scoped_or_404(Account, account_id)
    if request.form.get("confirm", "").strip() != account.code:
        return _back(account, _("Type the account code to confirm the closure."))
    remaining = None
    if request.form.get("meter_remaining", "").strip():
        try:
            remaining = parse_yuan(request.form["meter_remaining"])
        except ValueError:
            return _back(account, _("Enter the amount in yuan, with at most two decimals (e.g. 200 or 88.50)."))
    try:
        proposal = proposals.propose_closure(db.session, account, request.form.get("reason", ""), current_user.actor,
                                             request.form.get("key", ""), meter_remaining_fen=remaining)
    except CounterError as exc:
        db.session.rollback()
        return _back(account, str(exc))
    db.session.commit()
    return _proposed(account, proposal)


@bp.post("/counter/a/<int:account_id>/transfer")
@require_area("counter")
def counter_transfer(account_id: int):
    """Move balance to another account of the site (a shop moving, a meter changing hands), once approved."""
    source = scoped_or_404(Account, account_id)
    target = db.session.scalar(select(Account).where(Account.site_id == source.site_id,
                                                     Account.code == request.form.get("target", "").strip()))
    if target is None:
        return _back(source, _("No account with that code at this site."))
    try:
        amount = parse_yuan(request.form.get("amount"))
    except ValueError:
        return _back(source, _("Enter the amount in yuan, with at most two decimals (e.g. 200 or 88.50)."))
    try:
        proposal = proposals.propose_transfer(db.session, source, target, amount,
                                              request.form.get("reason", "").strip(), current_user.actor,
                                              request.form.get("key", ""))
    except CounterError as exc:
        db.session.rollback()
        return _back(source, str(exc))
    db.session.commit()
    return _proposed(source, proposal)


@bp.post("/counter/a/<int:account_id>/adjust")
@require_area("counter")
def counter_adjust(account_id: int):
    """调账: a credit or a debit by hand, with a reason, once approved."""
    account = scoped_or_404(Account, account_id)
    try:
        amount = parse_yuan(request.form.get("amount"))
    except ValueError:
        return _back(account, _("Enter the amount in yuan, with at most two decimals (e.g. 200 or 88.50)."))
    if request.form.get("direction") == "debit":
        amount = -amount
    try:
        proposal = proposals.propose_adjustment(db.session, account, amount, request.form.get("reason", ""),
                                                current_user.actor, request.form.get("key", ""))
    except CounterError as exc:
        db.session.rollback()
        return _back(account, str(exc))
    db.session.commit()
    return _proposed(account, proposal)


@bp.post("/counter/meters/<int:meter_id>/replace")
@require_area("counter")
def counter_replace_meter(meter_id: int):
    """换表: final reading of the old meter, code and first reading of the new one; runs once approved."""
    meter = scoped_or_404(Meter, meter_id)
    account = meter.account
    if account is None:
        abort(404)
    try:
        final = swap.parse_reading(request.form.get("final_reading"), meter.kind)
        start = swap.parse_reading(request.form.get("new_reading") or "0", meter.kind)
        remaining = parse_yuan(request.form["remaining"]) if request.form.get("remaining", "").strip() else None
    except ValueError:
        return _back(account, _("Readings are numbers as the meter shows them; amounts are yuan."))
    try:
        proposal = proposals.propose_swap(db.session, meter, final, request.form.get("new_code", ""), start,
                                          current_user.actor, request.form.get("key", ""), remaining_fen=remaining)
    except CounterError as exc:
        db.session.rollback()
        return _back(account, str(exc))
    db.session.commit()
    return _proposed(account, proposal)
