"""/staff/accounts/<code>: one shop for the office — its head, ledger, orders and refunds, meters, own property fee,
emergency credit, tenant bindings, its meter-box sticker and binding code, and notes.

An account code is unique per site, not across sites: `?site=CODE` names the site; without it, one match among
the user's sites is shown, several get a short chooser, none (or only another site's) a 404. Every staff role
reads the page (an auditor only reads); what each may change is the role table's (portal.web.roles: the
`account_*` areas). The page has no navigation link: the counter's search, the meter list and the alarms lead here.
The ledger is account_ledger's; the forms' routes are account_forms'.
"""
from __future__ import annotations

from flask import abort, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.auth.binding import STICKER_PATH
from portal.control.emergency import emergency_limit, emergency_refusal
from portal.extensions import db
from portal.ledger.receipts import RECEIPT_KINDS, receipt_numbers
from portal.models import (
    Account,
    AccountNote,
    EntryKind,
    LedgerEntry,
    Meter,
    PaymentOrder,
    Refund,
    Site,
    TenantBinding,
    TenantUser,
    utcnow,
)
from portal.monthly.fee_overrides import basis_of, next_fee
from portal.monthly.periods import month_of, previous_month
from portal.settings import business_tz, public_url
from portal.sites.shop_records import NOTE_MAX
from portal.staff.account_ledger import KIND_LABELS, ledger_filters, ledger_page
from portal.staff.blueprint import bp
from portal.staff.counter import REFUND_LABELS
from portal.staff.dashboard import OFF_REASONS
from portal.web.access import require_area, scoped
from portal.web.htmx import render
from portal.web.params import BadParameter, query_arg
from portal.web.roles import may_change, may_open

#: the latest orders, refunds and notes the page shows (the ledger pages on; these are for a glance)
RECENT = 20
NOTES_SHOWN = 100
ORDER_LABELS = {
    "created": _l("waiting for payment"), "paid": _l("paid, not yet credited"), "credited": _l("credited"),
    "closed": _l("closed unpaid"), "refunded": _l("refunded"),
}
BINDING_LABELS = {"owner": _l("owner"), "manager": _l("shop manager")}
#: why emergency credit cannot be given now (portal.control.emergency's refusals), as the office reads it
EMERGENCY_REFUSED = {
    "not_offered": _l("This site offers no emergency credit (balance rules)."),
    "closed": _l("The account is closed."),
    "meter_mode": _l("This shop's meter keeps its own credit: it cannot take emergency credit."),
    "owed": _l("Emergency credit is already taken and not yet repaid: it is repaid from the next payment."),
    "balance_high": _l("Emergency credit is only given when the balance is low."),
    "above_cap": _l("Emergency credit would take the balance above the site's maximum."),
}


def _site_code(name: str, text: str) -> str:
    if len(text) > 32:
        raise BadParameter(_("%(name)s is a site code of at most 32 characters", name=name))
    return text


def matching_accounts(code: str) -> list[Account]:
    """The accounts with this code at the user's sites (at ?site=CODE only, when it is given)."""
    site = query_arg("site", _site_code)
    query = scoped(select(Account).join(Site, Account.site_id == Site.id).where(Account.code == code[:32]),
                   Account.site_id)
    if site:
        query = query.where(Site.code == site)
    return list(db.session.scalars(query.options(joinedload(Account.site)).order_by(Site.code).limit(50)))


def account_or_404(code: str) -> Account:
    """The one account this address names among the user's sites; 404 when none, or when the site is not said and
    several sites have the code (the page's forms always say it)."""
    found = matching_accounts(code)
    if len(found) != 1:
        abort(404)
    return found[0]


def account_url(account: Account, **args) -> str:
    """The address of the shop's page (with its site, so that it names one shop)."""
    return url_for("staff.account_page", code=account.code, site=account.site.code, **args)


def _meters(account: Account) -> list[Meter]:
    return list(db.session.scalars(select(Meter).where(Meter.account_id == account.id)
                                   .options(selectinload(Meter.state)).order_by(Meter.code)))


def emergency_context(account: Account, error: str | None = None) -> dict:
    """The emergency-credit section: what is offered and owed, the last advance, and whether it may be given now."""
    last = None
    if account.emergency_owed_fen > 0:  # the advance still owed (the walk back stops at it)
        last = db.session.scalar(select(LedgerEntry).where(
            LedgerEntry.account_id == account.id, LedgerEntry.kind == EntryKind.EMERGENCY, LedgerEntry.amount_fen > 0,
        ).order_by(LedgerEntry.created_at.desc()).limit(1))
    refusal = emergency_refusal(account)
    return dict(account=account, emergency_offer=account.site.emergency_credit_fen,
                emergency_limit=emergency_limit(account.site), emergency_last=last,
                emergency_refusal=EMERGENCY_REFUSED[refusal] if refusal else None, emergency_error=error,
                may_grant=may_open(current_user.role, "account_emergency"), account_url=account_url)


def fee_context(account: Account, error: str | None = None, message: str | None = None, form=None) -> dict:
    """The own-fee section: how the shop's fee is made, what the next run charges, the form for managers."""
    fee, _how = next_fee(account)
    site = account.site
    rate = site.fee_rate_e4_per_m2 if account.fee_rate_e4_per_m2 is None else account.fee_rate_e4_per_m2
    fixed = site.fee_fixed_fen if account.fee_fixed_fen is None else account.fee_fixed_fen
    return dict(account=account, fee_basis=basis_of(account), next_fee=fee, fee_rate=rate, fee_fixed=fixed,
                fee_error=error, fee_message=message, fee_form=form,
                may_set_fee=may_open(current_user.role, "account_fees"), account_url=account_url)


def bindings_context(account: Account, error: str | None = None, message: str | None = None) -> dict:
    """The tenant users bound to the shop, oldest binding first."""
    rows = db.session.execute(select(TenantBinding, TenantUser).join(TenantUser)
                              .where(TenantBinding.account_id == account.id)
                              .order_by(TenantBinding.created_at, TenantUser.id)).all()
    return dict(account=account, bindings=rows, binding_labels=BINDING_LABELS, bindings_error=error,
                bindings_message=message, may_revoke=may_open(current_user.role, "account_bindings"),
                account_url=account_url)


def sticker_context(account: Account, error: str | None = None, new_code: str | None = None) -> dict:
    """The shop's meter-box sticker address (once it has a token), whether it has a binding code, and the form that
    issues a new one (managers); `new_code`: the one just issued, shown this once."""
    return dict(account=account, sticker_url=public_url(STICKER_PATH + account.sticker_token)
                if account.sticker_token else None, has_binding_code=account.binding_code_hash is not None,
                new_binding_code=new_code, sticker_error=error,
                may_issue_code=may_open(current_user.role, "account_binding_codes") and may_change(current_user.role),
                account_url=account_url)


def notes_context(account: Account, error: str | None = None, typed: str = "") -> dict:
    """The shop's notes, newest first, and the form (for everyone who may change anything)."""
    notes = db.session.scalars(select(AccountNote).where(AccountNote.account_id == account.id)
                               .order_by(AccountNote.created_at.desc(), AccountNote.id.desc())
                               .limit(NOTES_SHOWN)).all()
    return dict(account=account, notes=notes, note_max=NOTE_MAX, notes_error=error, typed=typed,
                may_note=may_change(current_user.role), account_url=account_url)


def bill_month(account: Account) -> str:
    """The month whose bill the page offers: the last one, or this one for a shop opened in it."""
    month = month_of(utcnow(), business_tz())
    opened = month_of(account.created_at, business_tz())
    return previous_month(month) if opened < month else month


def _whole_page(account: Account) -> dict:
    """What only the whole page shows (an htmx filter of the ledger gets the ledger alone)."""
    meters = _meters(account)
    orders = db.session.scalars(select(PaymentOrder).where(PaymentOrder.account_id == account.id)
                                .order_by(PaymentOrder.created_at.desc(), PaymentOrder.id.desc()).limit(RECENT)).all()
    refunds = db.session.scalars(select(Refund).join(Refund.order).where(PaymentOrder.account_id == account.id)
                                 .options(selectinload(Refund.order)).order_by(Refund.id.desc()).limit(RECENT)).all()
    # each names the account and the page's address too: the same ones
    sections = {**emergency_context(account), **fee_context(account), **bindings_context(account),
                **sticker_context(account), **notes_context(account)}
    return dict(sections, meters=meters, orders=orders, refunds=refunds, order_labels=ORDER_LABELS,
                refund_labels=REFUND_LABELS, off_reasons=OFF_REASONS,
                may_counter=may_open(current_user.role, "counter"), may_bill=may_open(current_user.role, "bills"),
                bill_month=bill_month(account))


@bp.get("/accounts/<code>")
@require_area("accounts")
def account_page(code: str):
    """One shop: the head, the ledger (filtered, paged), and the sections below it; htmx gets the ledger alone."""
    found = matching_accounts(code)
    if not found:
        abort(404)
    if len(found) > 1:
        return render("staff/accounts/chooser.html", "staff/accounts/chooser.html", code=code, accounts=found,
                      account_url=account_url)
    shop = found[0]
    filters = ledger_filters()
    ledger = ledger_page(shop.id, filters)
    receipts = {}
    if may_open(current_user.role, "counter"):  # the receipt pages are the counter's
        receipts = receipt_numbers(db.session, [e.id for e in ledger.entries if e.kind in RECEIPT_KINDS])
    return render("staff/accounts/page.html", "staff/accounts/_ledger.html", page_only=lambda: _whole_page(shop),
                  account=shop, filters=filters, ledger=ledger, kind_labels=KIND_LABELS, receipts=receipts,
                  account_url=account_url)
