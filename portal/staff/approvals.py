"""The maker-checker queue, /staff/approvals: proposals waiting for a manager, and the refunds a cashier asked for.

Managers see their sites' queue and decide what others proposed (the rules are portal.approvals.decisions);
cashiers see their own proposals and may withdraw them. Refund requests keep their own flow
(portal.payments.refunds: after the approval comes the platform's answer) and their own row partial, decided
through the counter's refund endpoint, so one page shows everything that waits for a second person.
"""
from __future__ import annotations

from datetime import datetime

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import case, select
from sqlalchemy.orm import joinedload

from portal.approvals import decisions
from portal.approvals.proposals import ProposalRefused
from portal.extensions import db
from portal.models import Account, LedgerEntry, PaymentOrder, Proposal, ProposalStatus, Refund, RefundStatus
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.htmx import answer_form
from portal.web.roles import may_open

#: the words for proposal kinds and statuses
PROPOSAL_LABELS = {
    "recharge": _l("Counter recharge above the limit"), "closure": _l("Account closure"),
    "transfer": _l("Balance transfer"), "adjustment": _l("Manual adjustment"), "meter_swap": _l("Meter replacement"),
    "keep_power": _l("Keep-power (保电)"),
}
STATUS_LABELS = {
    "proposed": _l("waiting for a manager"), "approved": _l("approved and done"), "rejected": _l("rejected"),
    "withdrawn": _l("withdrawn"),
}
#: the reasons the platform itself gives when it proposes a refund (portal.payments.credit)
HELD_REASONS = {
    "paid after the account was closed": _l("paid after the account was closed"),
    "above the site's maximum balance": _l("above the site's maximum balance"),
}
#: how many decided proposals the page shows below the open ones
HISTORY = 50


@bp.context_processor
def approval_labels() -> dict:
    """Label helpers for the approval templates (and the counter page's list of waiting proposals)."""
    return dict(proposal_label=lambda kind: PROPOSAL_LABELS.get(kind.value, kind.value),
                proposal_status_label=lambda status: STATUS_LABELS.get(status.value, status.value),
                refund_reason=lambda reason: HELD_REASONS.get(reason, reason),
                receipt_no_of=_receipt_no_of,
                iso_time=lambda text: datetime.fromisoformat(text) if text else None)


def _receipt_no_of(entry_id: int) -> str:
    """The printed number of the receipt an approved proposal posted (its ledger entry's id in a row)."""
    entry = db.session.get(LedgerEntry, entry_id)
    return (entry.receipt_no if entry is not None else None) or str(entry_id)


def _row_context(proposal: Proposal, error: str | None = None, message: str | None = None) -> dict:
    return {"p": proposal, "may_decide": may_open(current_user.role, "approval_decisions"),
            "me": current_user.actor, "error": error, "message": message}


@bp.get("/approvals")
@require_area("approvals")
def approvals():
    """Open proposals first, then the latest decided ones; with the open refund requests below."""
    deciding = may_open(current_user.role, "approval_decisions")
    query = (select(Proposal).options(joinedload(Proposal.account), joinedload(Proposal.meter))
             .order_by(case((Proposal.status == ProposalStatus.PROPOSED, 0), else_=1), Proposal.id.desc())
             .limit(200))
    refund_query = (select(Refund).join(Refund.order).join(PaymentOrder.account)
                    .options(joinedload(Refund.order).joinedload(PaymentOrder.account))
                    .where(Refund.status.in_((RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.FAILED)))
                    .order_by(Refund.id.desc()).limit(100))
    if not deciding:  # a cashier: what they asked for themselves
        query = query.where(Proposal.proposed_by == current_user.actor)
        refund_query = refund_query.where(Refund.requested_by == current_user.actor)
    rows = db.session.scalars(scoped(query, Proposal.site_id)).unique().all()
    waiting = [p for p in rows if p.status == ProposalStatus.PROPOSED]
    decided = [p for p in rows if p.status != ProposalStatus.PROPOSED][:HISTORY]
    return render_template("staff/approvals/page.html", waiting=waiting, decided=decided, may_decide=deciding,
                           me=current_user.actor, refunds_shown=may_open(current_user.role, "counter"),
                           refunds=db.session.scalars(scoped(refund_query, Account.site_id)).unique().all())


@bp.post("/approvals/<int:proposal_id>/<any(approve, reject):decision>")
@require_area("approval_decisions")
def approval_decide(proposal_id: int, decision: str):
    """A manager approves (the operation runs now) or rejects with a note; htmx gets the row back."""
    proposal = scoped_or_404(Proposal, proposal_id)
    try:
        if decision == "approve":
            decisions.approve(db.session, proposal, current_user.actor)
        else:
            decisions.reject(db.session, proposal, request.form.get("note", ""), current_user.actor)
    except ProposalRefused as exc:
        db.session.rollback()
        if isinstance(exc, decisions.OperationRefused):  # why it could not run: the proposer should see it too
            decisions.record_refusal(db.session, proposal.id, str(exc), current_user.actor)
            db.session.commit()
        return _answer(proposal, error=str(exc))
    db.session.commit()
    decisions.after_commit(db.session, proposal)
    if decision == "reject":
        return _answer(proposal, message=_("Rejected."))
    receipt = (proposal.result or {}).get("entry")
    return _answer(proposal, message=_("Approved and done."),
                   back=url_for("staff.counter_receipt", entry_id=receipt) if receipt else None)


@bp.post("/approvals/<int:proposal_id>/withdraw")
@require_area("approvals")
def approval_withdraw(proposal_id: int):
    """The proposer takes a proposal back before a manager decides."""
    proposal = scoped_or_404(Proposal, proposal_id)
    try:
        decisions.withdraw(db.session, proposal, current_user.actor)
    except ProposalRefused as exc:
        db.session.rollback()
        return _answer(proposal, error=str(exc))
    db.session.commit()
    return _answer(proposal, message=_("Withdrawn."))


def _answer(proposal: Proposal, *, error: str | None = None, message: str | None = None, back: str | None = None):
    db.session.refresh(proposal)
    return answer_form("staff/approvals/_proposal_row.html", back or url_for("staff.approvals"),
                       lambda: _row_context(proposal, error, message), error=error, message=message,
                       redirect_code=303)

