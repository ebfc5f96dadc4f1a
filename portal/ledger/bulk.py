"""The ledger's bulk path for the monthly runs: thousands of entries in a few statements.

Same guarantees as `post_entry`, which would lock and update one account per call: the accounts are
locked first (in id order, so two runs never deadlock each other), keys already posted are skipped,
the new entries are inserted in one statement per 20,000 with ON CONFLICT DO NOTHING, and each balance
moves once by the sum of its new entries, so balance == sum(entries) holds when the transaction commits.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, bindparam, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from portal.audit import approval_of
from portal.bulk import among, array_literal, chunks, insert_rows, postgresql
from portal.ledger.entries import DuplicateEntryMismatch, LedgerError
from portal.models import Account, EntryKind, LedgerEntry, utcnow


@dataclass(frozen=True)
class Movement:
    """One entry to post: to whom, how much (signed fen) and its idempotency key."""

    account_id: int
    amount_fen: int
    key: str
    memo: str = ""
    #: the meter whose reading it charges (energy, water), as post_entry's meter_id
    meter_id: int | None = None


def lock_balances(session: Session, account_ids: Iterable[int]) -> dict[int, int]:
    """Lock the accounts' rows in id order and return their balances."""
    ids = sorted(set(account_ids))
    found: dict[int, int] = {}
    for part in chunks(ids):
        query = select(Account.id, Account.balance_fen).where(among(session, Account.id, part)).order_by(Account.id)
        found.update(session.execute(query.with_for_update()).tuples().all())
    return found


def post_many(session: Session, movements: Sequence[Movement], kind: EntryKind, *, actor: str = "system",
              balances: dict[int, int] | None = None, known_new: bool = False,
              created: dict[str, datetime] | None = None) -> list[Movement]:
    """Post every movement whose key is new, exactly once; returns those posted now.

    `balances` are the locked balances when the caller has already called `lock_balances`. `known_new`: the
    caller's own bookkeeping makes every key new (a poll cycle's usage debits), so they are not looked up
    first; one that is not fails the whole call, as a concurrent posting does. `created`, when given, receives
    each posted key's created_at (the daily roll-ups count money on the day it was posted).
    """
    kind = EntryKind(kind)
    for m in movements:
        if type(m.amount_fen) is not int or m.amount_fen == 0:
            raise LedgerError(f"{m.key}: amount_fen must be a non-zero int, got {m.amount_fen!r}")
    if not movements:
        return []
    session.flush()
    balances = dict(balances if balances is not None else lock_balances(session, (m.account_id for m in movements)))
    fresh = list(movements) if known_new else _skip_posted(session, movements, kind)
    now = utcnow()
    # a meter swap's final charge, approved by a manager, names both people as post_entry does (the poll
    # cycle's rows, never approved, keep their columns: the insert stays as it was)
    approval = approval_of(session)
    names = {} if approval is None else {"actor": approval.proposed_by, "approved_by": approval.approved_by}
    rows, deltas, seen = [], {}, {}
    for m in fresh:
        if m.account_id not in balances:
            raise LedgerError(f"no account {m.account_id} (or it was not locked)")
        balances[m.account_id] += m.amount_fen
        deltas[m.account_id] = deltas.get(m.account_id, 0) + m.amount_fen
        # entries of one account keep distinct, ordered timestamps: "the balance after" stays readable
        n = seen[m.account_id] = seen.get(m.account_id, -1) + 1
        rows.append({**dict(account_id=m.account_id, amount_fen=m.amount_fen, kind=kind, idempotency_key=m.key,
                            balance_after_fen=balances[m.account_id], memo=m.memo[:200], actor=actor,
                            meter_id=m.meter_id, created_at=now + timedelta(microseconds=n)), **names})
        if created is not None:
            created[m.key] = rows[-1]["created_at"]
    inserted = insert_rows(session, LedgerEntry.__table__, rows, conflict=["idempotency_key"], returning="id")
    if len(inserted) != len(rows):  # another writer took a key between our check and our insert
        raise LedgerError(f"{len(rows) - len(inserted)} keys were posted concurrently; run again")
    add_to_accounts(session, Account.balance_fen, deltas)
    return fresh


def _skip_posted(session: Session, movements: Sequence[Movement], kind: EntryKind) -> list[Movement]:
    posted: dict[str, tuple] = {}
    query = select(LedgerEntry.idempotency_key, LedgerEntry.account_id, LedgerEntry.amount_fen, LedgerEntry.kind)
    for part in chunks([m.key for m in movements]):
        found = session.execute(query.where(among(session, LedgerEntry.idempotency_key, part)))
        posted.update((r[0], r[1:]) for r in found)
    fresh = []
    for m in movements:
        if m.key not in posted:
            fresh.append(m)
        elif posted[m.key] != (m.account_id, m.amount_fen, kind):
            account_id, amount, was = posted[m.key]
            raise DuplicateEntryMismatch(
                f"key {m.key!r} was posted as {amount} fen {EntryKind(was).value} to account {account_id}")
    return fresh


def add_to_accounts(session: Session, column_attr, deltas: dict[int, int]) -> None:
    """accounts.<column> += delta for each account: one UPDATE ... FROM unnest(...) (PostgreSQL)."""
    deltas = {k: v for k, v in deltas.items() if v}
    if not deltas:
        return
    name = column_attr.key
    if name not in ("balance_fen", "fee_arrears_fen"):
        raise ValueError(f"not an account amount: {name}")
    if postgresql(session):
        for part in chunks(sorted(deltas.items())):
            session.execute(text(
                f"UPDATE accounts SET {name} = accounts.{name} + v.delta "
                "FROM unnest(CAST(:ids AS integer[]), CAST(:deltas AS bigint[])) AS v(id, delta) "
                "WHERE accounts.id = v.id"), {"ids": array_literal([k for k, _ in part], Integer()),
                                               "deltas": array_literal([v for _, v in part], Integer())})
    else:
        table = Account.__table__
        session.execute(
            update(table).where(table.c.id == bindparam("aid")).values({name: table.c[name] + bindparam("delta")}),
            [{"aid": k, "delta": v} for k, v in deltas.items()])
    for account_id in deltas:  # rows moved under the ORM's feet
        cached = session.identity_map.get(identity_key(Account, account_id))
        if cached is not None:
            session.expire(cached, [name])
