"""Reconciliation results (`/staff/reports/reconciliation?site=CODE&day=YYYY-MM-DD`): the platforms' bills
against our orders for a day, each mismatch with what to do about it, the month's days with their counts, the
bills stored, and the month's `.xlsx`. The comparison is portal.payments.reconciliation's, scoped to the site by
portal.payments.reconciliation_month.

Two acts, for managers (CSRF, audited): settle a payment the bill shows but we did not credit, through the paths the
notify and the sweep use (portal.payments.recovery.settle_from_bill: credited once however often it is pressed), and
download a day's bills again, queued through the outbox as the daily job.
"""
from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.audit import audit
from portal.extensions import db
from portal.metering.usage import month_days as calendar_month
from portal.models import PaymentOrder, Site, utcnow
from portal.payments.reconciliation import BILL_TZ
from portal.payments.reconciliation_month import (
    bills_stored,
    day_mismatches,
    month_days,
    month_mismatches,
    reconciliation_xlsx,
)
from portal.payments.recovery import settle_from_bill
from portal.queue.names import RECONCILE_DAY
from portal.queue.outbox import enqueue
from portal.staff.blueprint import bp
from portal.staff.reports import chosen, export
from portal.web.access import require_area, scoped_or_404
from portal.web.params import BadParameter, day_arg, parse_day
from portal.web.roles import may_change, may_open

#: each kind of mismatch in words
KIND_WORDS = {
    "paid_not_credited": _l("Paid, not credited"),
    "credited_not_on_bill": _l("Credited, on no bill"),
    "amount_differs": _l("Amounts differ"),
}
#: what to do, by kind and (for a payment not credited) the order's state; "unknown": no order of ours
ADVICE = {
    ("paid_not_credited", "paid"): _l(
        "The order is paid but its credit never ran (a job was lost). Credit it now: it is credited once, however "
        "often the button is pressed."),
    ("paid_not_credited", "created"): _l(
        "The payment's notify was lost and the sweep has not recovered it. Credit it: the platform is asked first, "
        "and a payment it confirms is credited as a notify would be."),
    ("paid_not_credited", "closed"): _l(
        "We closed the order before the payment arrived. Credit it: the platform is asked first; a confirmed payment "
        "is credited (for a closed shop, held for a refund)."),
    ("paid_not_credited", "unknown"): _l(
        "We have no order with this number. Check whether another system or a test uses the same merchant account; "
        "look the platform's trade number up in the platform's merchant console. If a shop paid it, record it at the "
        "counter as a transfer recharge, or refund it at the platform."),
    ("credited_not_on_bill", ""): _l(
        "Credited here, but on no bill downloaded. First check that the day's bill was downloaded (below) and "
        "download it again. Still missing the next day: ask the platform about its trade number before anything "
        "else is paid out of this credit."),
    ("amount_differs", "more"): _l(
        "The platform took more than the order: refund the difference to the payer with a refund request on the "
        "shop's counter page."),
    ("amount_differs", "less"): _l(
        "The shop was credited more than the platform received: ask the platform, then propose a manual adjustment "
        "of the difference on the shop's counter page (a manager approves it)."),
}
#: what pressing "credit" did (portal.payments.recovery.settle_from_bill), in words, and how it is shown
OUTCOMES = {
    "credited": (_l("Credited."), "info"),
    "queued": (_l("The platform confirms the payment: it is being credited."), "info"),
    "already": (_l("Already credited: nothing more was done."), "info"),
    "unpaid": (_l("The platform says this order is not paid: nothing was credited."), "error"),
    "unasked": (_l("This channel has no platform to ask: nothing was credited."), "error"),
    "anomaly": (_l("The platform's answer does not match the order (amount or merchant): see the payment alarm."),
                "error"),
}


def _today() -> date:
    return utcnow().astimezone(BILL_TZ).date()


def _advice_key(kind: str, status: str | None, bill_fen: int | None, order_fen: int | None) -> tuple[str, str]:
    if kind == "paid_not_credited":
        return kind, status if status in ("paid", "created", "closed") else "unknown"
    if kind == "amount_differs":
        return kind, "more" if (bill_fen or 0) > (order_fen or 0) else "less"
    return kind, ""


@bp.get("/reports/reconciliation")
@require_area("reports")
def report_reconciliation():
    """A day's mismatches of the site with their advice, the month's days with their counts, the bills stored."""
    sites, site, month = chosen()
    day = day_arg("day")
    if day is not None:
        month = f"{day:%Y-%m}"
    first, last = calendar_month(month)
    days = month_days(first, last, _today())
    by_day = month_mismatches(db.session, days, site.id)
    if day is None:
        day = days[-1] if days else first
    shown = by_day[day] if day in by_day else day_mismatches(db.session, day, site.id)
    return render_template(
        "staff/reports/reconciliation.html", sites=sites, site=site, month=month, day=day, days=days,
        counts={d: len(found) for d, found in by_day.items()}, stored=bills_stored(db.session, first, last),
        rows=[(s, ADVICE[_advice_key(s.mismatch.kind, s.mismatch.order_status, s.mismatch.bill_fen,
                                     s.mismatch.order_fen)]) for s in shown],
        kind_words=KIND_WORDS, can_act=may_change(current_user.role),
        may_counter=may_open(current_user.role, "counter"))


def _form_day() -> date:
    try:
        return parse_day("day", request.form.get("day", ""))
    except BadParameter:
        abort(400)


def _back(site: Site, day: date):
    return redirect(url_for("staff.report_reconciliation", site=site.code, day=day.isoformat()), 303)


@bp.post("/reports/reconciliation/orders/<int:order_id>/credit")
@require_area("reports")
def reconciliation_credit(order_id: int):
    """Settle a payment the bill shows but we did not credit (exactly once; the platform asked when it is open)."""
    order = scoped_or_404(PaymentOrder, order_id, site_of=lambda o: o.account.site_id)
    site, day, before = order.account.site, _form_day(), order.status.value
    try:
        outcome = settle_from_bill(db.session, order.id)
    except Exception as exc:  # the platform could not be asked: nothing was done, the sweep goes on asking
        db.session.rollback()
        flash(_("The platform could not be asked: %(error)s", error=str(exc)[:200]), "error")
        return _back(site, day)
    audit(db.session, current_user.actor, "order.credit_from_bill", "payment_order", order.id, site_id=site.id,
          out_trade_no=order.out_trade_no, day=day.isoformat(), outcome=outcome, old=before,
          new=db.session.get(PaymentOrder, order.id).status.value)
    db.session.commit()
    words, category = OUTCOMES[outcome]
    flash(str(words), category)
    return _back(site, day)


@bp.post("/reports/reconciliation/download")
@require_area("reports")
def reconciliation_download():
    """Download a day's bills again and reconcile it: the daily job, queued once however often it is pressed."""
    _sites, site, _month = chosen()
    day = _form_day()
    if day >= _today():
        flash(_("A day's bill is published the next day: choose a day before today."), "error")
        return _back(site, day)
    enqueue(db.session, RECONCILE_DAY, day.isoformat(), dedupe_key=f"reconcile:{day.isoformat()}")
    audit(db.session, current_user.actor, "bills.download", "site", site.id, site_id=site.id, day=day.isoformat())
    db.session.commit()
    flash(_("The bills of %(day)s are being downloaded again; reload this page in a minute.", day=day.isoformat()),
          "info")
    return _back(site, day)


@export("reconciliation")
def _reconciliation(site: Site, month: str) -> bytes:
    first, last = calendar_month(month)
    return reconciliation_xlsx(month_mismatches(db.session, month_days(first, last, _today()), site.id))
