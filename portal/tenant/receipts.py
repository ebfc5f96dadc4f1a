"""A payment's e-receipt for its tenant: one printable page per payment or counter recharge.

It says what a shop owner files or shows an accountant: the shop and its site, the amount (and in capitals), how
it was paid (the channel, the platform's trade number, or the counter's receipt number), when, and the balance
right after it; and the state of its invoice request. Another shop's entry is a 404 like one that does not exist.
"""
from __future__ import annotations

from flask import abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import LedgerEntry, PaymentOrder, Site
from portal.payments.invoices import PAID_KINDS, request_for_month, requests_for_entries
from portal.settings import business_tz
from portal.tenant.blueprint import bp, own_account


def paid_entry_or_404(account_id: int, entry_id: int) -> LedgerEntry:
    """The account's payment or counter recharge with this id; 404 for anything else."""
    entry = db.session.scalar(select(LedgerEntry).where(
        LedgerEntry.id == entry_id, LedgerEntry.account_id == account_id, LedgerEntry.kind.in_(PAID_KINDS),
        LedgerEntry.amount_fen > 0).options(joinedload(LedgerEntry.receipt)))
    if entry is None:
        abort(404)
    return entry


@bp.get("/a/<int:account_id>/receipts/<int:entry_id>")
def receipt(account_id: int, entry_id: int):
    """The printable e-receipt of one payment."""
    acct = own_account(account_id)
    entry = paid_entry_or_404(acct.id, entry_id)
    order = db.session.get(PaymentOrder, entry.order_id) if entry.order_id else None
    month = f"{entry.created_at.astimezone(business_tz()):%Y-%m}"
    return render_template("tenant/receipt.html", account=acct, site=db.session.get(Site, acct.site_id),
                           entry=entry, order=order, invoice=requests_for_entries(db.session, [entry.id]).get(entry.id),
                           month_invoice=request_for_month(db.session, acct.id, month))
