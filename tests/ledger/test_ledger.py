"""The ledger: the one way money moves, exactly once per key, balance always the sum."""
from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.ledger.entries import DuplicateEntryMismatch, LedgerError, ledger_mismatches, post_entry
from portal.models import Account, EntryKind, LedgerEntry


def test_post_entry_moves_balance_and_records_balance_after(make_account):
    acct = make_account()
    first = post_entry(db.session, acct, 10_000, EntryKind.PAYMENT, "payment:1")
    second = post_entry(db.session, acct, -2_345, EntryKind.ENERGY, "energy:1")
    db.session.commit()
    assert first.created and second.created
    assert acct.balance_fen == 7_655
    assert [first.entry.balance_after_fen, second.entry.balance_after_fen] == [10_000, 7_655]


def test_repeated_key_posts_once(make_account):
    acct = make_account()
    post_entry(db.session, acct, 500, EntryKind.CASH, "cash:abc")
    again = post_entry(db.session, acct, 500, EntryKind.CASH, "cash:abc")
    db.session.commit()
    assert not again.created
    assert acct.balance_fen == 500
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 1


def test_repeated_key_with_other_amount_is_refused(make_account):
    acct = make_account()
    post_entry(db.session, acct, 500, EntryKind.CASH, "cash:abc")
    with pytest.raises(DuplicateEntryMismatch):
        post_entry(db.session, acct, 700, EntryKind.CASH, "cash:abc")


@pytest.mark.parametrize("amount", [0, 1.5, "100", True, None])
def test_amount_must_be_nonzero_integer_fen(make_account, amount):
    acct = make_account()
    with pytest.raises(LedgerError):
        post_entry(db.session, acct, amount, EntryKind.CASH, "cash:bad")


def test_unknown_account_is_refused(app):
    with pytest.raises(LedgerError):
        post_entry(db.session, 999_999, 100, EntryKind.CASH, "cash:nobody")


def test_database_refuses_zero_amount_and_duplicate_keys(make_account):
    acct = make_account()
    db.session.add(LedgerEntry(account_id=acct.id, amount_fen=0, kind=EntryKind.CASH, idempotency_key="k0",
                               balance_after_fen=0))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    for _ in range(2):
        db.session.add(LedgerEntry(account_id=acct.id, amount_fen=1, kind=EntryKind.CASH, idempotency_key="dup",
                                   balance_after_fen=1))
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_mismatch_check_finds_a_tampered_balance(make_account):
    acct = make_account(balance_fen=1_000)
    assert ledger_mismatches(db.session) == []
    db.session.execute(Account.__table__.update().values(balance_fen=999))
    db.session.commit()
    assert ledger_mismatches(db.session) == [(acct.id, 999, 1_000)]


def test_concurrent_credits_and_debits_lose_nothing_and_never_duplicate(app, make_account):
    """Many threads on real PostgreSQL post to the same accounts at once, repeating keys on purpose."""
    assert db.engine.dialect.name == "postgresql"
    accounts = [make_account().id for _ in range(3)]
    threads, per_thread = 12, 40
    # Each operation is (account, amount, key); every key is attempted by two threads.
    rng = random.Random(7)
    ops = [(rng.choice(accounts), rng.choice([-300, -120, 50, 200, 1_000]), f"op:{i}")
           for i in range(threads * per_thread // 2)]
    plan = [ops[i::threads // 2] for i in range(threads // 2)] * 2
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(batch):
        with app.app_context():
            barrier.wait()
            try:
                for account_id, amount, key in batch:
                    post_entry(db.session, account_id, amount, EntryKind.ADJUSTMENT, key)
                    db.session.commit()
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                db.session.remove()

    workers = [threading.Thread(target=work, args=(batch,)) for batch in plan]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert errors == []
    expected = dict.fromkeys(accounts, 0)
    for account_id, amount, _ in ops:
        expected[account_id] += amount
    db.session.expire_all()
    for account_id in accounts:
        assert db.session.get(Account, account_id).balance_fen == expected[account_id]
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == len(ops)
    assert ledger_mismatches(db.session) == []
    # balance_after_fen forms an unbroken chain per account: no two entries saw the same balance
    for account_id in accounts:
        rows = db.session.execute(select(LedgerEntry.amount_fen, LedgerEntry.balance_after_fen)
                                  .where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.id)).all()
        running = 0
        for amount, after in rows:
            running += amount
            assert after == running
