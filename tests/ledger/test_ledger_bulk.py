"""The ledger's bulk path keeps post_entry's guarantees: once per key, balance == sum of entries."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.ledger.bulk import Movement, post_many
from portal.ledger.entries import DuplicateEntryMismatch, LedgerError, ledger_mismatches
from portal.models import EntryKind, LedgerEntry


def test_many_entries_move_each_balance_once_with_running_balances(make_account):
    a, b = make_account(balance_fen=1_000), make_account(balance_fen=0)
    posted = post_many(db.session, [Movement(a.id, -300, "k1"), Movement(b.id, -50, "k2"), Movement(a.id, -200, "k3")],
                       EntryKind.ADJUSTMENT)
    db.session.commit()
    assert len(posted) == 3
    rows = db.session.execute(select(LedgerEntry.idempotency_key, LedgerEntry.balance_after_fen)
                              .where(LedgerEntry.kind == EntryKind.ADJUSTMENT)
                              .order_by(LedgerEntry.created_at, LedgerEntry.id)).all()
    assert sorted(rows) == [("k1", 700), ("k2", -50), ("k3", 500)]
    db.session.expire_all()
    assert (a.balance_fen, b.balance_fen) == (500, -50)
    assert ledger_mismatches(db.session) == []


def test_keys_already_posted_are_skipped(make_account):
    a = make_account(balance_fen=1_000)
    post_many(db.session, [Movement(a.id, -300, "k1")], EntryKind.ADJUSTMENT)
    again = post_many(db.session, [Movement(a.id, -300, "k1"), Movement(a.id, -1, "k2")], EntryKind.ADJUSTMENT)
    db.session.commit()
    db.session.expire_all()
    assert [m.key for m in again] == ["k2"] and a.balance_fen == 699


def test_a_key_reused_for_another_movement_is_refused(make_account):
    a = make_account(balance_fen=1_000)
    post_many(db.session, [Movement(a.id, -300, "k1")], EntryKind.ADJUSTMENT)
    with pytest.raises(DuplicateEntryMismatch):
        post_many(db.session, [Movement(a.id, -301, "k1")], EntryKind.ADJUSTMENT)


@pytest.mark.parametrize("amount", [0, 1.5, True])
def test_amounts_are_non_zero_integer_fen(make_account, amount):
    a = make_account()
    with pytest.raises(LedgerError):
        post_many(db.session, [Movement(a.id, amount, "k")], EntryKind.ADJUSTMENT)


def test_an_entry_can_name_the_meter_it_charges(make_account, make_meter):
    a = make_account(balance_fen=1_000)
    meter = make_meter(account=a)
    post_many(db.session, [Movement(a.id, -5, "energy:x", meter_id=meter.id)], EntryKind.ENERGY)
    assert db.session.execute(select(LedgerEntry.meter_id).where(LedgerEntry.idempotency_key == "energy:x")
                              ).scalar_one() == meter.id
