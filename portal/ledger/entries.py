"""The ledger service: `post_entry` is the one way money moves."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from portal.audit import approval_of
from portal.ledger.receipts import RECEIPT_KINDS, number_receipt
from portal.models import Account, EntryKind, LedgerEntry, utcnow
from portal.models.base import upsert_insert


class LedgerError(Exception):
    """A posting that the ledger refuses."""


class DuplicateEntryMismatch(LedgerError):
    """The idempotency key was already used for a different movement."""


@dataclass(frozen=True)
class Posted:
    """The entry for a key, and whether this call created it."""

    entry: LedgerEntry
    created: bool


def post_entry(
    session: Session,
    account: Account | int,
    amount_fen: int,
    kind: EntryKind,
    idempotency_key: str,
    *,
    memo: str = "",
    actor: str = "system",
    order_id: int | None = None,
    meter_id: int | None = None,
    reverses_id: int | None = None,
    method: str | None = None,
) -> Posted:
    """Append one entry and move the cached balance with it, exactly once per idempotency key.

    Runs inside the caller's transaction and only flushes; the caller commits. The account row is
    locked first, so concurrent postings to one account serialise and none is lost. Inside an approved
    operation (portal.audit.approved) the entry names the person who asked as its actor and the manager
    who approved it, whichever verb posts it.
    """
    if type(amount_fen) is not int:  # bool and float are both refused: money is integer fen
        raise LedgerError(f"amount_fen must be an int, got {type(amount_fen).__name__}")
    if amount_fen == 0:
        raise LedgerError("a ledger entry moves money: amount_fen must not be 0")
    kind = EntryKind(kind)
    account_id = account if isinstance(account, int) else account.id
    approval = approval_of(session)
    approved_by = None
    if approval is not None:
        actor, approved_by = approval.proposed_by, approval.approved_by

    locked = session.execute(
        select(Account.balance_fen, Account.site_id).where(Account.id == account_id).with_for_update()
    ).one_or_none()
    if locked is None:
        raise LedgerError(f"no account {account_id}")
    balance, site_id = locked

    values = dict(
        account_id=account_id,
        amount_fen=amount_fen,
        kind=kind,
        idempotency_key=idempotency_key,
        balance_after_fen=balance + amount_fen,
        memo=memo[:200],
        actor=actor,
        approved_by=approved_by,
        method=method,
        order_id=order_id,
        meter_id=meter_id,
        reverses_id=reverses_id,
        created_at=utcnow(),
    )
    new_id = session.execute(
        upsert_insert(session, LedgerEntry).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerEntry.id)
    ).scalar_one_or_none()

    if new_id is None:
        existing = session.execute(
            select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)
        ).scalar_one()
        if existing.account_id != account_id or existing.amount_fen != amount_fen or existing.kind != kind:
            raise DuplicateEntryMismatch(
                f"key {idempotency_key!r} was posted as {existing.amount_fen} fen {existing.kind.value} "
                f"to account {existing.account_id}"
            )
        return Posted(existing, False)

    session.execute(
        update(Account).where(Account.id == account_id).values(balance_fen=Account.balance_fen + amount_fen)
        # no "evaluate" pass over the whole identity map (quadratic when a cycle posts thousands): the
        # one object it could touch is expired just below
        .execution_options(synchronize_session=False)
    )
    if kind in RECEIPT_KINDS:
        number_receipt(session, new_id, site_id, values["created_at"])
    cached = session.identity_map.get(identity_key(Account, account_id))
    if cached is not None:  # the row moved under the ORM's feet
        session.expire(cached, ["balance_fen"])
    return Posted(session.get(LedgerEntry, new_id), True)


def ledger_mismatches(session: Session) -> list[tuple[int, int, int]]:
    """Accounts whose cached balance differs from the sum of their entries: (id, cached, summed)."""
    summed = (
        select(LedgerEntry.account_id, func.coalesce(func.sum(LedgerEntry.amount_fen), 0).label("total"))
        .group_by(LedgerEntry.account_id)
        .subquery()
    )
    rows = session.execute(
        select(Account.id, Account.balance_fen, func.coalesce(summed.c.total, 0))
        .outerjoin(summed, summed.c.account_id == Account.id)
        .where(Account.balance_fen != func.coalesce(summed.c.total, 0))
    ).all()
    return [(r[0], r[1], int(r[2])) for r in rows]
