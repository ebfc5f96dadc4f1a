"""A report read side by side on several connections sees one instant (portal.snapshot): a payment committed while
the statement's workbook is being read is in none of its parts, so every shop still adds up."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import Account, EntryKind, LedgerEntry, utcnow
from portal.monthly.periods import month_bounds, month_of
from portal.monthly.reports import monthly_report, monthly_report_side_by_side
from portal.monthly.statement import MONEY, ShopStatement
from portal.settings import business_tz
from portal.snapshot import shared_snapshot, shares_snapshots, side_by_side
from tests.monthly.conftest import SH


def test_every_session_sees_the_instant_the_first_one_began(make_account):
    shop = make_account(code="A1")
    post_entry(db.session, shop, 1000, EntryKind.PAYMENT, "before")
    db.session.commit()
    count = select(func.count()).select_from(LedgerEntry)
    with shared_snapshot(db.engine, 3) as sessions:
        assert sessions[0].scalar(count) == 1
        post_entry(db.session, shop, 500, EntryKind.PAYMENT, "while")  # committed after the snapshot was taken
        db.session.commit()
        assert [s.scalar(count) for s in sessions] == [1, 1, 1]
        with pytest.raises(DBAPIError, match="read-only"):
            sessions[2].execute(text("DELETE FROM ledger_entries"))
    assert db.session.scalar(count) == 2


def test_a_payment_committed_while_the_statement_is_read_leaves_every_shop_adding_up(make_site, make_account):
    """Part by part (one shop a query, the next read while one is yielded): the first shop is yielded, a payment
    reaches the last one, then the rest is read. Were each query to see what is committed when it runs, the last
    shop's closing balance would hold the payment and the month's sums (read at the start) would not: the payment
    would show as energy."""
    site = make_site()
    shops = [make_account(site=site, code=f"A{i}", created_at=datetime(2026, 1, 1, tzinfo=SH)) for i in range(3)]
    for n, shop in enumerate(shops):
        post_entry(db.session, shop, 10_000, EntryKind.PAYMENT, f"open:{n}")
        post_entry(db.session, shop, -2_500, EntryKind.ENERGY, f"use:{n}")
    db.session.commit()
    month = month_of(utcnow(), business_tz())
    start, end = month_bounds(month, business_tz())
    before = [ShopStatement(s) for s in monthly_report(db.session, site.id, month, start, end)]

    rows = monthly_report_side_by_side(db.engine, site.id, month, start, end, part=1)
    read = [ShopStatement(next(rows))]
    post_entry(db.session, shops[-1], 7_700, EntryKind.PAYMENT, "while")
    db.session.commit()
    read += [ShopStatement(s) for s in rows]

    columns = ("opening", *MONEY, "closing")
    assert [[r.fen(c) for c in columns] for r in read] == [[r.fen(c) for c in columns] for r in before]
    assert [r.fen("energy") for r in read] == [-2_500] * 3 and all(r.ties_out for r in read)
    after = monthly_report(db.session, site.id, month, start, end)
    assert after[-1].by_kind[EntryKind.PAYMENT.value] == 17_700  # the next read has it


def test_reads_side_by_side_see_one_instant_and_come_back_in_order(make_account, sqlite_app):
    shop = make_account(code="A1")
    post_entry(db.session, shop, 1000, EntryKind.PAYMENT, "before")
    db.session.commit()
    count = select(func.count()).select_from(LedgerEntry)

    engine, shop_id, paid = db.engine, shop.id, threading.Event()

    def count_then_pay(session):
        seen = session.scalar(count)
        with Session(bind=engine) as other:  # a payment committed meanwhile (threads have no app context)
            post_entry(other, other.get(Account, shop_id), 500, EntryKind.PAYMENT, "while")
            other.commit()
        paid.set()
        return seen

    def count_after_the_payment(session):
        assert paid.wait(10)
        return session.scalar(count)

    def code(session):
        return session.scalar(select(Account.code))

    assert side_by_side(db.engine, count_then_pay, count_after_the_payment, code) == [1, 1, "A1"]
    assert db.session.scalar(count) == 2
    sqlite_app()  # the demo's SQLite cannot share a snapshot: one read after the other
    assert not shares_snapshots(db.engine)
    assert side_by_side(db.engine, lambda s: s.scalar(select(func.count()).select_from(Account)), code) == [0, None]
