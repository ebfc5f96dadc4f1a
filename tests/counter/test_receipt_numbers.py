"""Receipt numbers per site and year (2026-000123), not database ids: the walk of the counter found the ids."""
from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from portal.counter import operations as ops
from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.ledger.receipts import entry_of_receipt, number_receipt
from portal.models import Account, EntryKind, LedgerEntry, Receipt, ReceiptSequence, Role

SHANGHAI = ZoneInfo("Asia/Shanghai")


def this_year() -> int:
    return datetime.now(SHANGHAI).year


def cash(account, amount_fen=1_000, actor="staff:c"):
    entry, _created = ops.counter_recharge(db.session, account, amount_fen, "cash", "", actor, uuid.uuid4().hex)
    db.session.commit()
    return entry


def test_each_site_numbers_its_own_receipts_from_one_in_order(make_site, make_account):
    one, two = make_site("one"), make_site("two")
    a, b = make_account(site=one, code="A1"), make_account(site=two, code="B1")
    year = this_year()
    numbers = [cash(a).receipt_no, cash(b).receipt_no, cash(a).receipt_no, cash(a).receipt_no, cash(b).receipt_no]
    assert numbers == [f"{year}-000001", f"{year}-000001", f"{year}-000002", f"{year}-000003", f"{year}-000002"]


def test_reversals_and_adjustments_are_numbered_energy_charges_are_not(make_site, make_account):
    site = make_site("mall")
    a = make_account(site=site, code="A1", balance_fen=10_000)
    entry = cash(a)
    reversal = ops.reverse_entry(db.session, entry, "wrong shop", "staff:c")
    post_entry(db.session, a, 500, EntryKind.ADJUSTMENT, "adj:1", actor="staff:m")
    energy = post_entry(db.session, a, -30, EntryKind.ENERGY, "energy:1:1").entry
    db.session.commit()
    year = this_year()
    assert (entry.receipt_no, reversal.receipt_no) == (f"{year}-000001", f"{year}-000002")
    assert energy.receipt_no is None
    numbered = db.session.scalars(select(Receipt.number).order_by(Receipt.number)).all()
    assert numbered == [f"{year}-{n:06d}" for n in range(1, len(numbered) + 1)]  # no gap, no repeat


def test_a_posting_rolled_back_gives_its_number_back(make_site, make_account):
    site = make_site("mall")
    a = make_account(site=site, code="A1")
    post_entry(db.session, a, 1_000, EntryKind.CASH, "cash:gone", method="cash")
    db.session.rollback()
    assert cash(a).receipt_no == f"{this_year()}-000001"


def test_the_year_is_the_business_year(make_site, make_account):
    """31 December 16:30 UTC is already 1 January in Shanghai: the receipt belongs to the new year."""
    site = make_site("mall")
    account = make_account(site=site, code="A1")
    late, early = (post_entry(db.session, account, -1, EntryKind.ENERGY, f"energy:{n}").entry for n in (1, 2))
    assert number_receipt(db.session, late.id, site.id, datetime(2026, 12, 31, 16, 30, tzinfo=UTC)) == "2027-000001"
    assert number_receipt(db.session, early.id, site.id, datetime(2026, 12, 31, 15, 30, tzinfo=UTC)) == "2026-000001"
    db.session.commit()
    assert (late.receipt_no, early.receipt_no) == ("2027-000001", "2026-000001")


def test_the_printed_receipt_and_the_counter_show_the_number_not_the_id(client, make_site, make_account, make_staff,
                                                                       login):
    site = make_site("mall", name="Riverside Mall")
    other = make_site("other")
    for _ in range(3):  # another site's receipts push the ids up, not this site's numbers
        cash(make_account(site=other, code=f"O{uuid.uuid4().hex[:4]}"))
    shop = make_account(site=site, code="A101", name="Bakery")
    login.staff(make_staff(role=Role.CASHIER, sites=[site]))
    entry = cash(shop)
    number = f"{this_year()}-000001"
    assert entry.id != 1 and entry.receipt_no == number
    html = client.get(f"/staff/counter/receipts/{entry.id}").get_data(as_text=True)
    assert f'data-testid="receipt-no">{number}<' in html
    account_page = client.get(f"/staff/counter/a/{shop.id}").get_data(as_text=True)
    assert f">{number}</a>" in account_page
    report = client.get(f"/staff/counter/report?site={site.id}").get_data(as_text=True)
    assert f">{number}</a>" in report


def test_the_counter_finds_a_receipt_by_its_number(client, make_site, make_account, make_staff, login):
    site, other = make_site("mall"), make_site("other")
    mine = cash(make_account(site=site, code="A1"))
    cash(make_account(site=other, code="B1"))  # the same number at a site this cashier does not serve
    login.staff(make_staff(role=Role.CASHIER, sites=[site]))
    res = client.get(f"/staff/counter/?q={mine.receipt_no}")
    assert res.status_code == 303 and res.headers["Location"] == f"/staff/counter/receipts/{mine.id}"
    assert entry_of_receipt(db.session, site.id, mine.receipt_no) == mine.id


def test_concurrent_counters_of_one_site_never_share_or_skip_a_number(app, make_site, make_account):
    assert db.engine.dialect.name == "postgresql"
    site = make_site("mall")
    ids = [make_account(site=site, code=f"A{n}").id for n in range(8)]
    db.session.commit()
    errors = []

    def recharge(account_id: int) -> None:
        with app.app_context():
            try:
                for _ in range(5):
                    cash(db.session.get(Account, account_id))
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                db.session.remove()

    workers = [threading.Thread(target=recharge, args=(i,)) for i in ids]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert errors == []
    numbers = db.session.scalars(select(Receipt.number).where(Receipt.site_id == site.id)).all()
    assert sorted(numbers) == [f"{this_year()}-{n:06d}" for n in range(1, 41)]
    assert db.session.get(ReceiptSequence, (site.id, this_year())).last == 40


@pytest.mark.slow
def test_the_migration_numbers_the_receipts_printed_before_it(app, make_site, make_account):
    """Entries posted before revision 0013 get numbers in the order they were posted, per site and year."""
    site, other = make_site("mall"), make_site("other")
    a, b = make_account(site=site, code="A1"), make_account(site=other, code="B1")
    rows = [(a, EntryKind.CASH, datetime(2025, 6, 1, tzinfo=UTC)),
            (b, EntryKind.CASH, datetime(2025, 7, 1, tzinfo=UTC)),
            (a, EntryKind.ENERGY, datetime(2025, 8, 1, tzinfo=UTC)),
            (a, EntryKind.REVERSAL, datetime(2025, 12, 31, 17, tzinfo=UTC)),  # 1 January 2026 in Shanghai
            (a, EntryKind.CASH, datetime(2026, 2, 1, tzinfo=UTC))]
    for n, (account, kind, at) in enumerate(rows):
        entry = post_entry(db.session, account, 100 if kind != EntryKind.ENERGY else -1, kind, f"k{n}").entry
        entry.created_at = at
    db.session.commit()
    ids = db.session.scalars(select(LedgerEntry.id).order_by(LedgerEntry.id)).all()
    try:
        db.session.remove()
        downgrade(revision="0012")
        with db.engine.connect() as conn:
            assert "receipts" not in inspect(conn).get_table_names()
            assert conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one() == len(rows)
        upgrade(revision="0013")
        with db.engine.connect() as conn:
            got = dict(conn.execute(text("SELECT entry_id, number FROM receipts")).all())
    finally:
        upgrade()
    assert got == {ids[0]: "2025-000001", ids[1]: "2025-000001", ids[3]: "2026-000001", ids[4]: "2026-000002"}
