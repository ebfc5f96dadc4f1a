"""One counter form is one recharge, by the ledger's unique key: even sent twice at the same moment, as cash and as
transfer, on real PostgreSQL."""
from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import select, text

from portal.counter import operations as ops
from portal.counter.daily_report import daily_report
from portal.extensions import db
from portal.ledger.entries import ledger_mismatches, post_entry
from portal.models import Account, EntryKind, LedgerEntry, utcnow
from portal.settings import business_tz


def waiting_on_locks() -> int:
    """How many connections of this database wait for a lock right now."""
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'")).scalar_one()


def test_one_form_sent_as_cash_and_as_transfer_at_once_posts_once(app, make_account):
    """The review sent one counter form in parallel as cash and as transfer: it posted twice."""
    assert db.engine.dialect.name == "postgresql"
    account_id = make_account(balance_fen=10_000).id
    key = uuid.uuid4().hex
    results, errors = [], []

    def submit(method: str) -> None:
        with app.app_context():
            try:
                account = db.session.get(Account, account_id)
                entry, created = ops.counter_recharge(db.session, account, 5_000, method, "", "staff:c", key)
                db.session.commit()
                results.append((entry.id, created))
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                db.session.remove()

    # Hold the account row (as a payment being credited would) until both submits have read everything they
    # read first and wait to post: the worst interleaving, every time, instead of a race that may not happen.
    with db.engine.connect() as holder:
        holder.execute(select(Account.id).where(Account.id == account_id).with_for_update())
        workers = [threading.Thread(target=submit, args=(method,)) for method in ("cash", "transfer")]
        for t in workers:
            t.start()
        deadline = time.monotonic() + 10
        while waiting_on_locks() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        holder.rollback()
    for t in workers:
        t.join(10)

    assert errors == []
    entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.CASH)).all()
    assert [e.amount_fen for e in entries] == [5_000]
    assert sorted(created for _, created in results) == [False, True]
    assert {entry_id for entry_id, _ in results} == {entries[0].id}
    db.session.expire_all()
    assert db.session.get(Account, account_id).balance_fen == 15_000
    assert ledger_mismatches(db.session) == []


def test_the_method_is_kept_beside_the_key_and_the_report_still_splits_by_it(make_account):
    account = make_account(balance_fen=0)
    cash, _ = ops.counter_recharge(db.session, account, 1_000, "cash", "", "staff:c", uuid.uuid4().hex)
    transfer, _ = ops.counter_recharge(db.session, account, 2_000, "transfer", "ref 7", "staff:c", uuid.uuid4().hex)
    db.session.commit()
    assert (cash.method, transfer.method) == ("cash", "transfer")
    assert transfer.idempotency_key.startswith("cash:counter:")
    assert (ops.method_of(cash), ops.method_of(transfer)) == ("cash", "transfer")
    report = daily_report(db.session, None, utcnow().astimezone(business_tz()).date(), business_tz())
    assert (report.total("cash", "cash"), report.total("cash", "transfer")) == (1_000, 2_000)


def test_entries_from_before_the_method_column_still_say_their_method(make_account):
    account = make_account()
    old = post_entry(db.session, account, 500, EntryKind.CASH, "cash:transfer:" + "0" * 32).entry
    assert old.method is None and ops.method_of(old) == "transfer"
