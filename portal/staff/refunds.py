"""Counter pages for refunds (cashier asks, manager decides) and the daily sales report with its CSV."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import case, select
from sqlalchemy.orm import joinedload

from portal.counter.daily_report import daily_report, report_csv
from portal.counter.operations import business_day
from portal.extensions import db
from portal.models import Account, PaymentOrder, Refund, RefundStatus, Site, utcnow
from portal.money import parse_yuan
from portal.payments import refunds as flow
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.web.access import in_scope, require_area, scoped, scoped_or_404, site_ids
from portal.web.htmx import answer_form
from portal.web.params import day_arg, id_arg
from portal.web.roles import may_open


def _order_site(order: PaymentOrder) -> int:
    return order.account.site_id


@bp.post("/counter/orders/<int:order_id>/refund")
@require_area("counter")
def counter_refund_request(order_id: int):
    """A cashier asks for a refund of a credited platform payment."""
    order = scoped_or_404(PaymentOrder, order_id, site_of=_order_site)
    back = redirect(url_for("staff.counter_account", account_id=order.account_id), 303)
    try:
        amount = parse_yuan(request.form.get("amount"))
    except ValueError:
        flash(_("Enter the amount in yuan, with at most two decimals (e.g. 200 or 88.50)."), "error")
        return back
    try:
        flow.request_refund(db.session, order, amount, request.form.get("reason", ""), current_user.actor)
    except flow.RefundRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    db.session.commit()
    flash(_("Refund requested; a manager approves it in the refund queue."), "info")
    return back


@bp.get("/counter/refunds")
@require_area("counter")
def counter_refunds():
    """The refund queue: open requests first, then the latest decided ones."""
    query = (select(Refund).join(Refund.order).join(PaymentOrder.account)
             .options(joinedload(Refund.order).joinedload(PaymentOrder.account))
             .order_by(case((Refund.status == RefundStatus.REQUESTED, 0), (Refund.status == RefundStatus.APPROVED, 1),
                            else_=2), Refund.id.desc()).limit(100))
    return render_template("staff/counter/refunds.html",
                           refunds=db.session.scalars(scoped(query, Account.site_id)).unique().all(),
                           may_decide=may_open(current_user.role, "refund_decisions"))


@bp.post("/counter/refunds/<int:refund_id>/<decision>")
@require_area("refund_decisions")
def counter_refund_decide(refund_id: int, decision: str):
    """approve (then send to the platform), reject, or send again; htmx gets the row back."""
    refund = scoped_or_404(Refund, refund_id, site_of=lambda r: r.order.account.site_id)
    if decision not in ("approve", "reject", "send"):
        abort(404)
    try:
        if decision == "reject":
            flow.reject_refund(db.session, refund, request.form.get("note", ""), current_user.actor)
        elif decision == "approve":
            flow.approve_refund(db.session, refund, current_user.actor)
        db.session.commit()  # the decision stands even if the platform cannot be reached
        if decision != "reject":
            flow.send_refund(db.session, refund, current_user.actor)
            db.session.commit()
    except flow.RefundRefused as exc:
        db.session.rollback()
        error = str(exc)
    else:
        error = None
    return answer_form("staff/counter/_refund_row.html", url_for("staff.counter_refunds"),
                       lambda: {"r": refund, "may_decide": True, "error": error}, error=error, redirect_code=303)


@bp.get("/counter/report")
@require_area("counter")
def counter_report():
    """The day's sales: platform payments by channel, counter recharges, reversals, refunds; CSV on request."""
    tz = business_tz()
    day = day_arg(default=business_day(utcnow(), tz))
    ids = site_ids()
    site = id_arg("site")
    if site is not None:
        if not in_scope(site):
            abort(404)
        ids = {site}
    report = daily_report(db.session, ids, day, tz)
    if request.args.get("format") == "csv":
        return Response(report_csv(report, tz), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=sales-{day.isoformat()}.csv"})
    sites = db.session.scalars(scoped(select(Site), Site.id)).all()
    return render_template("staff/counter/report.html", report=report, day=day, site=site, sites=sites)
