"""Invoice requests (发票) for the staff who handle money: the requests of their sites, open or issued, and marking
one issued with the number of the invoice made in the tax bureau's system (audited).

Cashiers and managers work the list; auditors read it; electricians have no business with it (portal.web.roles).
"""
from __future__ import annotations

from flask import abort, url_for
from flask import request as http_request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import Account, InvoiceRequest, InvoiceStatus, PaymentOrder, Site
from portal.payments.invoices import INVOICE_NO, InvoiceRefused, issue_invoice
from portal.staff.blueprint import bp
from portal.web.access import in_scope, require_area, scoped, scoped_or_404
from portal.web.htmx import answer_form, render
from portal.web.params import id_arg, one_of, query_arg
from portal.web.roles import may_change

#: the list's state filter, open first (the work to do)
STATES = {"open": _l("Open"), "issued": _l("Issued"), "all": _l("All")}
LIMIT = 200


def _site_of(row: InvoiceRequest) -> int:
    return row.account.site_id


def _rows(state: str, site_id: int | None) -> list[InvoiceRequest]:
    query = (select(InvoiceRequest).join(Account, Account.id == InvoiceRequest.account_id)
             .options(joinedload(InvoiceRequest.account), joinedload(InvoiceRequest.entry))
             .order_by(InvoiceRequest.id.desc() if state != "open" else InvoiceRequest.id).limit(LIMIT))
    if state != "all":
        query = query.where(InvoiceRequest.status == InvoiceStatus(state))
    if site_id is not None:
        query = query.where(Account.site_id == site_id)
    return list(db.session.scalars(scoped(query, Account.site_id)).unique())


def _orders(rows: list[InvoiceRequest]) -> dict[int, PaymentOrder]:
    """The platform orders behind the payments listed (their trade numbers), by order id."""
    ids = {r.entry.order_id for r in rows if r.entry is not None and r.entry.order_id}
    if not ids:
        return {}
    return {o.id: o for o in db.session.scalars(select(PaymentOrder).where(PaymentOrder.id.in_(ids)))}


@bp.get("/invoices")
@require_area("invoices")
def invoices():
    """The invoice requests of the user's sites: open ones oldest first, issued ones newest first."""
    state = query_arg("status", one_of(STATES), "open")
    site_id = id_arg("site")
    if site_id is not None and not in_scope(site_id):
        abort(404)
    rows = _rows(state, site_id)
    sites = db.session.scalars(scoped(select(Site).order_by(Site.code), Site.id)).all()
    return render("staff/invoices/index.html", "staff/invoices/_table.html", rows=rows, orders=_orders(rows),
                  states=STATES, state=state, site_id=site_id, sites=sites,
                  may_issue=may_change(current_user.role), limit=LIMIT)


@bp.post("/invoices/<int:request_id>/issue")
@require_area("invoices")
def invoice_issue(request_id: int):
    """Mark an open request issued with its invoice number; htmx gets the row back (with the error, if any)."""
    row = scoped_or_404(InvoiceRequest, request_id, site_of=_site_of)
    number = http_request.form.get("invoice_no", "").strip()
    error = None
    if not INVOICE_NO.fullmatch(number):
        error = _("Enter the invoice number: up to 40 digits, letters and dashes.")
    else:
        try:
            issue_invoice(db.session, row.id, number, current_user.actor, row.account.site_id)
            db.session.commit()
        except InvoiceRefused as exc:
            db.session.rollback()
            error = str(exc)
    message = None if error else _("Invoice %(no)s recorded as issued.", no=number)
    return answer_form("staff/invoices/_row.html", url_for("staff.invoices"),
                       lambda: {"r": db.session.get(InvoiceRequest, request_id), "orders": _orders([row]),
                                "may_issue": True, "error": error, "typed": number},
                       error=error, message=message, redirect_code=303)
