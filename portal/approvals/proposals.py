"""Proposing: what a cashier asks for, checked now, and kept until a manager decides.

Each verb refuses at once what the operation itself would refuse (a closed account, a balance that cannot
cover it, a reading the meter cannot have measured), so the cashier hears it at the counter, not a manager
hours later; the operation checks again when it runs. A proposal is keyed by its form: a form sent twice,
even at the same moment, proposes once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.approvals.readings import final_reading_bound, register_text
from portal.audit import audit
from portal.control.keep_power import check_terms
from portal.counter import operations as ops
from portal.counter.adjustments import check_adjustment
from portal.counter.guards import CounterError, check_form_key, require_active
from portal.models import (
    Account,
    ControlMode,
    LedgerEntry,
    Meter,
    Proposal,
    ProposalKind,
    ProposalStatus,
    Site,
    utcnow,
)
from portal.models.base import upsert_insert
from portal.notify.approvals import tell_waiting
from portal.payments.orders import cap_room_fen


class ProposalRefused(CounterError):
    """A proposal (or a decision on one) that is refused; the message (translatable) is for the staff member."""


def needs_approval(site: Site, amount_fen: int) -> bool:
    """Whether a counter recharge of this amount needs a manager's approval at this site."""
    return site.counter_limit_fen is not None and amount_fen > site.counter_limit_fen


def set_counter_limit(session: Session, site: Site, limit_fen: int | None, actor: str) -> bool:
    """Set the amount above which a counter recharge needs a manager's approval (None: never); True if changed."""
    if limit_fen is not None and (type(limit_fen) is not int or limit_fen <= 0):
        raise ProposalRefused(_l("The limit must be more than zero (blank: no limit)."))
    if site.counter_limit_fen == limit_fen:
        return False
    audit(session, actor, "site.counter_limit", "site", site.id, site.id,
          changed={"counter_limit_fen": [site.counter_limit_fen, limit_fen]})
    site.counter_limit_fen = limit_fen
    return True


def _propose(session: Session, kind: ProposalKind, account: Account, actor: str, form_key: str, *,
             amount_fen: int | None, reason: str = "", params: dict | None = None,
             meter: Meter | None = None) -> Proposal:
    """Insert the proposal once per form key (the site's staff are told it waits); the same form again gets it back,
    another form's content is refused."""
    key = f"{kind.value}:{form_key}"
    values = dict(site_id=account.site_id, kind=kind, status=ProposalStatus.PROPOSED, key=key, account_id=account.id,
                  meter_id=meter.id if meter else None, amount_fen=amount_fen, params=params or {},
                  reason=(reason or "").strip()[:200], proposed_by=actor, note="", error="", created_at=utcnow())
    new_id = session.execute(upsert_insert(session, Proposal).values(**values)
                             .on_conflict_do_nothing(index_elements=["key"]).returning(Proposal.id)).scalar_one_or_none()
    if new_id is None:  # this form was sent before (or a moment ago, in parallel)
        sent = session.scalars(select(Proposal).where(Proposal.key == key)).one()
        if (sent.account_id, sent.amount_fen, sent.proposed_by) != (account.id, amount_fen, actor):
            raise ProposalRefused(_l("This form was already sent (proposal %(no)s); open a new one.", no=sent.id))
        return sent
    proposal = session.get(Proposal, new_id)
    audit(session, actor, "proposal.proposed", "proposal", proposal.id, account.site_id, kind=kind.value,
          account=account.code, amount_fen=amount_fen, reason=values["reason"])
    tell_waiting(session, account.site_id, kind.value, f"proposal:{proposal.id}", shop=account.code,
                 amount_fen=amount_fen, actor=actor, account_id=account.id)
    return proposal


@dataclass(frozen=True)
class Recharge:
    """A counter recharge: its entry when it posted now, or its proposal when it waits for a manager."""

    entry: LedgerEntry | None = None
    proposal: Proposal | None = None


def recharge(session: Session, account: Account, amount_fen: int, method: str, note: str, actor: str,
             form_key: str) -> Recharge:
    """A counter recharge, posted at once up to the site's limit and proposed for approval above it."""
    if not needs_approval(account.site, amount_fen):
        entry, _created = ops.counter_recharge(session, account, amount_fen, method, note, actor, form_key)
        return Recharge(entry=entry)
    ops.check_recharge(session, account, amount_fen, method, form_key)
    room = cap_room_fen(session, account)
    if room is not None and amount_fen > room:
        raise ProposalRefused(_l("This recharge would take the balance above the site's limit (囤积)."))
    return Recharge(proposal=_propose(session, ProposalKind.RECHARGE, account, actor, form_key, amount_fen=amount_fen,
                                      reason=note, params={"method": method, "form_key": form_key}))


def propose_closure(session: Session, account: Account, reason: str, actor: str, form_key: str,
                    meter_remaining_fen: int | None = None) -> Proposal:
    """Ask to close an account and pay its balance out; the payout it would make now is shown to the manager."""
    check_form_key(form_key)
    payout = ops.closure_payout(session, account, meter_remaining_fen)
    if session.scalar(select(Proposal.id).where(
            Proposal.account_id == account.id, Proposal.key != f"closure:{form_key}",
            Proposal.kind == ProposalKind.CLOSURE, Proposal.status == ProposalStatus.PROPOSED)):
        raise ProposalRefused(_l("The closure of this account is already waiting for a manager."))
    return _propose(session, ProposalKind.CLOSURE, account, actor, form_key, amount_fen=payout, reason=reason,
                    params={"meter_remaining_fen": meter_remaining_fen, "form_key": form_key})


def propose_transfer(session: Session, source: Account, target: Account, amount_fen: int, reason: str, actor: str,
                     form_key: str) -> Proposal:
    """Ask to move money from one account to another of the same site."""
    ops.check_transfer(session, source, target, amount_fen, form_key)
    return _propose(session, ProposalKind.TRANSFER, source, actor, form_key, amount_fen=amount_fen, reason=reason,
                    params={"target_id": target.id, "target_code": target.code, "form_key": form_key})


def propose_adjustment(session: Session, account: Account, amount_fen: int, reason: str, actor: str,
                       form_key: str) -> Proposal:
    """Ask to credit (amount > 0) or debit (amount < 0) an account by hand, with a reason."""
    check_adjustment(session, account, amount_fen, reason, form_key)
    return _propose(session, ProposalKind.ADJUSTMENT, account, actor, form_key, amount_fen=amount_fen, reason=reason,
                    params={"form_key": form_key})


def check_swap(session: Session, meter: Meter, final_total: int, new_code: str, remaining_fen: int | None,
               at) -> dict:
    """Everything a meter swap is refused for before it runs; returns the readings it was judged by."""
    account = meter.account
    require_active(account)
    new_code = (new_code or "").strip()
    if not new_code or len(new_code) > 32:
        raise ProposalRefused(_l("Enter the new meter's code."))
    if new_code != meter.code and session.scalar(select(Meter.id).where(Meter.site_id == meter.site_id,
                                                                        Meter.code == new_code)):
        raise ProposalRefused(_l("Meter code %(code)s is already in use at this site.", code=new_code))
    bound = final_reading_bound(session, meter, at)
    if bound.last_total is not None and final_total < bound.last_total:
        raise ProposalRefused(_l("The final reading is below the last recorded one."))
    if bound.highest is not None and final_total > bound.highest:
        raise ProposalRefused(_l(
            "The final reading %(final)s is more than this meter can have measured since its last reading "
            "(%(last)s): at most %(most)s.", final=register_text(final_total, meter.kind),
            last=register_text(bound.last_total, meter.kind), most=register_text(bound.highest, meter.kind)))
    if meter.control_mode == ControlMode.METER and (remaining_fen is None or remaining_fen < 0):
        raise ProposalRefused(_l("Enter the remaining amount read off the old meter."))
    return {"last_total": bound.last_total, "last_at": bound.last_at.isoformat() if bound.last_at else None,
            "highest": bound.highest}


def propose_swap(session: Session, meter: Meter, final_total: int, new_code: str, new_start_total: int, actor: str,
                 form_key: str, remaining_fen: int | None = None) -> Proposal:
    """Ask to replace a shop's meter: the final reading of the old one (bounded) and the money it carries over."""
    check_form_key(form_key)
    if session.scalar(select(Proposal.id).where(Proposal.meter_id == meter.id, Proposal.key != f"meter_swap:{form_key}",
                                                Proposal.status == ProposalStatus.PROPOSED)):
        raise ProposalRefused(_l("A replacement of this meter is already waiting for a manager."))
    judged = check_swap(session, meter, final_total, new_code, remaining_fen, utcnow())
    carried = remaining_fen if meter.control_mode == ControlMode.METER else None
    return _propose(session, ProposalKind.METER_SWAP, meter.account, actor, form_key, amount_fen=carried,
                    meter=meter, params={"final_total": final_total, "new_code": new_code.strip(),
                                         "new_start_total": new_start_total, "remaining_fen": carried,
                                         "old_code": meter.code, "form_key": form_key, **judged})



def propose_keep_power(session: Session, meter: Meter, reason: str, until: datetime, actor: str,
                       form_key: str) -> Proposal:
    """An electrician asks for keep-power (保电) on a shop's meter until `until`; a manager approves it."""
    check_form_key(form_key)
    reason = check_terms(meter, reason, until, utcnow())
    if session.scalar(select(Proposal.id).where(
            Proposal.meter_id == meter.id, Proposal.kind == ProposalKind.KEEP_POWER,
            Proposal.key != f"keep_power:{form_key}", Proposal.status == ProposalStatus.PROPOSED)):
        raise ProposalRefused(_l("Keep-power for this meter is already waiting for a manager."))
    return _propose(session, ProposalKind.KEEP_POWER, meter.account, actor, form_key, amount_fen=None, reason=reason,
                    meter=meter, params={"meter_code": meter.code, "until": until.isoformat(), "form_key": form_key})
