"""Deciding: a manager who is not the proposer approves (the operation runs now) or rejects; the proposer may
withdraw.

Approving runs the operation in the approver's transaction, inside `portal.audit.approved`: every ledger
entry it posts names the person who asked (actor) and the manager who approved (approved_by), and every
audit record both, with the proposal's id. The operation checks everything again (the balance may have moved
since); a refusal rolls the approval back, the proposal stays open and keeps the reason (`record_refusal`).
What an approved operation does outside the database happens after the commit (`after_commit`).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.approvals.proposals import ProposalRefused, check_swap
from portal.audit import Approval, approved, audit
from portal.control.commands import CommandRefused
from portal.control.keep_power import grant_keep_power
from portal.counter import operations as ops
from portal.counter.adjustments import adjust_balance
from portal.counter.guards import CounterError
from portal.ledger.entries import LedgerError
from portal.metering import swap
from portal.models import Account, Proposal, ProposalKind, ProposalStatus, utcnow
from portal.payments.recovery import close_at_platforms

#: what an operation refuses with, turned into the proposal's refusal
REFUSALS = (CounterError, swap.SwapRefused, LedgerError, CommandRefused)


class OperationRefused(ProposalRefused):
    """The approved operation itself refused to run (the balance moved, the account closed...): worth keeping."""


def _lock(session: Session, proposal: Proposal) -> Proposal:
    session.execute(select(Proposal.id).where(Proposal.id == proposal.id).with_for_update())
    session.refresh(proposal)
    if proposal.status != ProposalStatus.PROPOSED:
        raise ProposalRefused(_l("This proposal was already decided."))
    return proposal


def approve(session: Session, proposal: Proposal, actor: str) -> Proposal:
    """A manager says yes: the operation runs now, naming both people; ProposalRefused when it cannot."""
    _lock(session, proposal)
    if proposal.proposed_by == actor:
        raise ProposalRefused(_l("You proposed this: another manager approves it."))
    with approved(session, Approval(proposal.id, proposal.proposed_by, actor)):
        try:
            result = RUNNERS[proposal.kind](session, proposal)
        except REFUSALS as exc:
            raise OperationRefused(str(exc)) from exc
        proposal.status, proposal.decided_by, proposal.decided_at = ProposalStatus.APPROVED, actor, utcnow()
        proposal.result, proposal.error = result, ""
        audit(session, actor, "proposal.approved", "proposal", proposal.id, proposal.site_id,
              kind=proposal.kind.value, amount_fen=proposal.amount_fen, result=result)
    return proposal


def reject(session: Session, proposal: Proposal, note: str, actor: str) -> Proposal:
    """A manager says no, with a note for the proposer; nothing runs."""
    _lock(session, proposal)
    if proposal.proposed_by == actor:
        raise ProposalRefused(_l("You proposed this: withdraw it instead."))
    proposal.status, proposal.decided_by, proposal.decided_at = ProposalStatus.REJECTED, actor, utcnow()
    proposal.note = (note or "").strip()[:200]
    audit(session, actor, "proposal.rejected", "proposal", proposal.id, proposal.site_id,
          kind=proposal.kind.value, note=proposal.note)
    return proposal


def withdraw(session: Session, proposal: Proposal, actor: str) -> Proposal:
    """The proposer takes it back before a manager decides."""
    _lock(session, proposal)
    if proposal.proposed_by != actor:
        raise ProposalRefused(_l("Only the person who proposed it can withdraw it."))
    proposal.status, proposal.decided_at = ProposalStatus.WITHDRAWN, utcnow()
    audit(session, actor, "proposal.withdrawn", "proposal", proposal.id, proposal.site_id, kind=proposal.kind.value)
    return proposal


def record_refusal(session: Session, proposal_id: int, message: str, actor: str) -> None:
    """Keep why an approval was refused on the (still open) proposal, in a transaction of its own."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is not None and proposal.status == ProposalStatus.PROPOSED:
        proposal.error = message[:300]
        audit(session, actor, "proposal.refused", "proposal", proposal.id, proposal.site_id, error=message[:300])


def after_commit(session: Session, proposal: Proposal) -> None:
    """What an approved operation does outside the database once it is committed: a closure's orders are
    closed at their platforms too."""
    if proposal.status == ProposalStatus.APPROVED and proposal.kind == ProposalKind.CLOSURE:
        close_at_platforms(session, (proposal.result or {}).get("closed_orders", []))


# --- the operations, as each proposal runs them ---------------------------------------------------------------

def _recharge(session: Session, p: Proposal) -> dict:
    entry, _created = ops.counter_recharge(session, p.account, p.amount_fen, p.params["method"], p.reason,
                                           p.proposed_by, p.params["form_key"])
    return {"entry": entry.id}


def _closure(session: Session, p: Proposal) -> dict:
    done = ops.close_account(session, p.account, p.reason, p.proposed_by, p.params.get("meter_remaining_fen"))
    return {"entry": done.settlement.id if done.settlement else None, "payout_fen": done.payout_fen,
            "tripped": done.tripped, "closed_orders": done.closed_orders}


def _transfer(session: Session, p: Proposal) -> dict:
    target = session.get(Account, p.params["target_id"])
    out, _into = ops.transfer_balance(session, p.account, target, p.amount_fen, p.reason, p.proposed_by,
                                      p.params["form_key"])
    return {"entry": out.id}


def _adjustment(session: Session, p: Proposal) -> dict:
    entry = adjust_balance(session, p.account, p.amount_fen, p.reason, p.proposed_by, p.params["form_key"])
    return {"entry": entry.id}


def _meter_swap(session: Session, p: Proposal) -> dict:
    meter, params = p.meter, p.params
    if meter.code != params["old_code"]:
        raise ProposalRefused(_l("Meter %(code)s was replaced meanwhile.", code=params["old_code"]))
    # judged again as of when it was read off the meter: the bound does not grow while the proposal waits
    check_swap(session, meter, params["final_total"], params["new_code"], params["remaining_fen"], p.created_at)
    done = swap.replace_meter(session, meter, params["final_total"], params["new_code"], params["new_start_total"],
                              p.proposed_by, remaining_fen=params["remaining_fen"])
    return {"old_code": done.old_code, "new_code": done.new_code, "final_delta": done.final_delta,
            "carried_fen": done.carried_fen}


def _keep_power(session: Session, p: Proposal) -> dict:
    meter = p.meter
    if meter is None or meter.code != p.params["meter_code"]:
        raise ProposalRefused(_l("Meter %(code)s was replaced meanwhile.", code=p.params["meter_code"]))
    # checked again now: an end that passed while the request waited is refused, not granted for no time
    cmd = grant_keep_power(session, meter, p.reason, datetime.fromisoformat(p.params["until"]), p.proposed_by)
    return {"command": cmd.id, "meter": meter.code, "until": p.params["until"]}


RUNNERS: dict[ProposalKind, Callable[[Session, Proposal], dict]] = {
    ProposalKind.RECHARGE: _recharge,
    ProposalKind.CLOSURE: _closure,
    ProposalKind.TRANSFER: _transfer,
    ProposalKind.ADJUSTMENT: _adjustment,
    ProposalKind.METER_SWAP: _meter_swap,
    ProposalKind.KEEP_POWER: _keep_power,
}
