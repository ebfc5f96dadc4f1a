"""The audit log: one call records who did what to which row, from where, and who approved it when two people
were needed.

What the caller's work runs under travels in the SQLAlchemy session's `info`, so the verbs below a view or a job
need not pass it on: the approval of a maker-checker operation (`approved`), and the client address of the web
request that does the work (`client_address`; the web layer sets it for every request and clears it afterwards,
jobs and the command line leave it unset, so their entries have no address).

A change is recorded as `changed={field: [before, after]}` (`changes` reads it back, and the shapes older
entries hold: `old`/`new`, and `old_<field>` beside `<field>` or `new_<field>`).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.models import AuditEntry

_APPROVAL = "payfirst.approval"
_CLIENT = "payfirst.client_address"


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


def client_address(session: Session) -> str | None:
    """The client address of the web request whose work the session does (None: a job, the command line)."""
    return session.info.get(_CLIENT)


def set_client_address(session: Session, address: str | None) -> None:
    """Name the client address every audit record written in this session carries from now on (None: forget it)."""
    if address:
        session.info[_CLIENT] = address[:45]  # an IPv6 address in its longest written form is 45 characters
    else:
        session.info.pop(_CLIENT, None)


def audit(session: Session, actor: str, action: str, target_type: str, target_id: int | None,
          site_id: int | None = None, **detail) -> AuditEntry:
    """Record an action in the caller's transaction."""
    approval = approval_of(session)
    if approval is not None:
        detail = {**detail, "proposal": approval.proposal_id, "proposed_by": approval.proposed_by,
                  "approved_by": approval.approved_by}
    entry = AuditEntry(actor=actor, action=action, target_type=target_type, target_id=target_id,
                       site_id=site_id, detail=detail or None, ip=client_address(session))
    session.add(entry)
    return entry


def changes(detail: dict | None) -> list[tuple[str, object, object]]:
    """What an entry's detail says changed, as (field, before, after), in the detail's order."""
    if not detail:
        return []
    found: list[tuple[str, object, object]] = []
    changed = detail.get("changed")
    if isinstance(changed, dict):
        found += [(name, *pair) for name, pair in changed.items() if isinstance(pair, list | tuple) and len(pair) == 2]
    if "old" in detail and "new" in detail:
        found.append(("", detail["old"], detail["new"]))
    for key, before in detail.items():
        if key.startswith("old_"):
            name = key.removeprefix("old_")
            after_key = f"new_{name}" if f"new_{name}" in detail else name
            if after_key in detail:
                found.append((name, before, detail[after_key]))
    return found


def change_keys(detail: dict | None) -> set[str]:
    """The keys of a detail that `changes` shows as before and after (the rest is shown as it is)."""
    if not detail:
        return set()
    keys = {"changed"} if isinstance(detail.get("changed"), dict) else set()
    if "old" in detail and "new" in detail:
        keys |= {"old", "new"}
    for key in detail:
        if key.startswith("old_"):
            name = key.removeprefix("old_")
            after_key = f"new_{name}" if f"new_{name}" in detail else name
            if after_key in detail:
                keys |= {key, after_key}
    return keys
