"""The audit log: one call records who did what to which row, and who approved it when two people were needed."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.models import AuditEntry

_APPROVAL = "payfirst.approval"


@dataclass(frozen=True)
class Approval:
    """Who asked for an operation and who approved it (portal.approvals), while it runs."""

    proposal_id: int
    proposed_by: str
    approved_by: str


def approval_of(session: Session) -> Approval | None:
    """The approval the session's current work runs under, if any."""
    return session.info.get(_APPROVAL)


@contextmanager
def approved(session: Session, approval: Approval) -> Iterator[Approval]:
    """Run an approved operation: every ledger entry and audit record written meanwhile names both people.

    The verbs an approved operation calls (a closure trips meters, a credit repays emergency credit first, a
    meter swap bills the old register) do not each take the approver: they write as usual, and the ledger
    and this log add the two names from here.
    """
    before = session.info.get(_APPROVAL)
    session.info[_APPROVAL] = approval
    try:
        yield approval
    finally:
        if before is None:
            session.info.pop(_APPROVAL, None)
        else:
            session.info[_APPROVAL] = before


def audit(session: Session, actor: str, action: str, target_type: str, target_id: int | None,
          site_id: int | None = None, **detail) -> AuditEntry:
    """Record an action in the caller's transaction."""
    approval = approval_of(session)
    if approval is not None:
        detail = {**detail, "proposal": approval.proposal_id, "proposed_by": approval.proposed_by,
                  "approved_by": approval.approved_by}
    entry = AuditEntry(actor=actor, action=action, target_type=target_type, target_id=target_id,
                       site_id=site_id, detail=detail or None)
    session.add(entry)
    return entry
