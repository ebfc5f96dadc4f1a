"""Invoice requests (发票) from the tenant: for one payment or for a finished month, with a title and a tax id.

The form is checked field by field here, each error beside its field and everything typed kept; what depends
on the books (a request already there, a month not over) is portal.payments.invoices'. The shop's requests and
their state are listed on their own page and beside each payment in the history.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import Account, InvoiceRequest, InvoiceTitle, LedgerEntry, utcnow
from portal.payments.invoices import InvoiceRefused, normal_tax_id, request_invoice, valid_tax_id
from portal.settings import business_tz
from portal.tenant.blueprint import bp, own_account
from portal.tenant.history import history_months
from portal.tenant.receipts import paid_entry_or_404
from portal.web.htmx import go_to, render
from portal.web.params import BadParameter, id_arg, month_arg, parse_id, parse_month

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TITLE_MAX, EMAIL_MAX = 100, 254


@dataclass
class InvoiceForm:
    """What the tenant typed (kept as typed when refused) and the errors by field ("" : the form's own)."""

    entry_id: int | None = None
    month: str | None = None
    title_kind: str = InvoiceTitle.COMPANY.value
    title: str = ""
    tax_id: str = ""
    email: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def read_form(form) -> InvoiceForm:
    """The posted fields, checked; `errors` is empty when the request may be made."""
    f = InvoiceForm(title_kind=form.get("title_kind", ""), title=form.get("title", "").strip(),
                    tax_id=normal_tax_id(form.get("tax_id", "")), email=form.get("email", "").strip())
    try:
        f.entry_id = parse_id("entry", form["entry"]) if form.get("entry") else None
        f.month = parse_month("month", form["month"]) if form.get("month") and f.entry_id is None else None
    except BadParameter:
        f.errors["month"] = _("Choose the month to invoice.")
    if f.entry_id is None and f.month is None:
        f.errors.setdefault("month", _("Choose the month to invoice."))
    if f.title_kind not in {t.value for t in InvoiceTitle}:
        f.errors["title_kind"] = _("Choose a company or a personal invoice.")
    if not f.title:
        f.errors["title"] = _("Enter the invoice title (抬头): the company's name, or yours for a personal invoice.")
    elif len(f.title) > TITLE_MAX:
        f.errors["title"] = _("The title is at most %(most)s characters.", most=TITLE_MAX)
    _check_tax_id(f)
    if f.email and (len(f.email) > EMAIL_MAX or not _EMAIL.fullmatch(f.email)):
        f.errors["email"] = _("Enter an email address such as name@example.com, or leave it empty.")
    return f


def _check_tax_id(f: InvoiceForm) -> None:
    if f.title_kind == InvoiceTitle.PERSONAL.value and f.tax_id:
        f.errors["tax_id"] = _("A personal invoice has no tax id: leave it empty, or choose a company invoice.")
    elif f.title_kind == InvoiceTitle.COMPANY.value and not f.tax_id:
        f.errors["tax_id"] = _("A company invoice needs the company's tax id (税号).")
    elif f.title_kind == InvoiceTitle.COMPANY.value and not valid_tax_id(f.tax_id):
        f.errors["tax_id"] = _("A tax id is 15, 18 or 20 digits and capital letters (such as 91310000MA1FL8XQ3B); "
                               "this one has %(count)s characters.", count=len(f.tax_id))


def _finished_months(acct: Account) -> list[str]:
    """The months a whole-month invoice may be asked for: those with a history that are over."""
    return history_months(acct, business_tz())[1:]


def _form_page(acct: Account, f: InvoiceForm, entry: LedgerEntry | None, refused: bool = False):
    return render("tenant/invoice_new.html", "tenant/_invoice_form.html", refused=refused, account=acct, form=f,
                  entry=entry, months=_finished_months(acct))


@bp.get("/a/<int:account_id>/invoices")
def invoices(account_id: int):
    """The shop's invoice requests, newest first, with their state."""
    acct = own_account(account_id)
    rows = db.session.scalars(select(InvoiceRequest).where(InvoiceRequest.account_id == acct.id)
                              .options(joinedload(InvoiceRequest.entry))
                              .order_by(InvoiceRequest.id.desc()).limit(100)).all()
    return render("tenant/invoices.html", "tenant/_invoice_list.html", account=acct, requests=rows,
                  months=_finished_months(acct))


@bp.get("/a/<int:account_id>/invoices/new")
def invoice_new(account_id: int):
    """The request form, for a payment (?entry=) or a month (?month=, or chosen on the form)."""
    acct = own_account(account_id)
    entry_id = id_arg("entry")
    entry = paid_entry_or_404(acct.id, entry_id) if entry_id else None
    f = InvoiceForm(entry_id=entry_id, month=None if entry else month_arg())
    return _form_page(acct, f, entry)


@bp.post("/a/<int:account_id>/invoices")
def invoice_create(account_id: int):
    """Record a request; a refused one comes back with each error beside its field and everything typed kept."""
    acct = own_account(account_id)
    f = read_form(request.form)
    entry = paid_entry_or_404(acct.id, f.entry_id) if f.entry_id else None
    if f.errors:
        return _form_page(acct, f, entry, refused=True)
    try:
        request_invoice(db.session, acct, title_kind=InvoiceTitle(f.title_kind), title=f.title,
                        tax_id=f.tax_id or None, email=f.email, actor=current_user.actor, tz=business_tz(),
                        entry=entry, month=f.month, now=utcnow())
    except InvoiceRefused as exc:
        db.session.rollback()
        f.errors[""] = str(exc)
        return _form_page(acct, f, entry, refused=True)
    db.session.commit()
    flash(_("Invoice requested: the property office will issue it and send it to you."), "info")
    return go_to(url_for("tenant.invoices", account_id=acct.id))
