"""Monthly report (opening, movements by kind, closing) and line loss of master meters."""
from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import EntryKind, LedgerEntry
from portal.monthly.reports import line_loss, monthly_report
from tests.monthly.conftest import SH, add_readings, month_start

MARCH, APRIL = month_start(2025, 3), month_start(2025, 4)
EARLY = datetime(2024, 1, 1, tzinfo=SH)


def post_at(account, amount: int, kind: EntryKind, at: datetime) -> None:
    """Post an entry as if at `at` (entries are posted in time order, so balance_after stays right)."""
    posted = post_entry(db.session, account, amount, kind, f"test:{account.id}:{kind.value}:{at.isoformat()}")
    db.session.execute(update(LedgerEntry).where(LedgerEntry.id == posted.entry.id).values(created_at=at))
    db.session.commit()


def test_statement_is_opening_plus_the_months_movements_by_kind(make_site, make_account):
    site = make_site()
    shop = make_account(site=site, code="A1", created_at=EARLY)
    post_at(shop, 10_000, EntryKind.OPENING, datetime(2025, 2, 10, tzinfo=SH))
    post_at(shop, -500, EntryKind.ENERGY, datetime(2025, 2, 28, 23, 30, tzinfo=SH))   # still February
    post_at(shop, -3_000, EntryKind.FEE, datetime(2025, 3, 1, 0, 5, tzinfo=SH))        # March, in Shanghai
    post_at(shop, 20_000, EntryKind.PAYMENT, datetime(2025, 3, 5, tzinfo=SH))
    post_at(shop, 1_000, EntryKind.CASH, datetime(2025, 3, 6, tzinfo=SH))
    post_at(shop, -1_500, EntryKind.ENERGY, datetime(2025, 3, 20, tzinfo=SH))
    post_at(shop, -200, EntryKind.WATER, datetime(2025, 3, 20, 1, tzinfo=SH))
    post_at(shop, -383, EntryKind.ALLOCATION, datetime(2025, 3, 31, 23, 59, tzinfo=SH))
    post_at(shop, -100, EntryKind.ENERGY, datetime(2025, 4, 1, tzinfo=SH))             # April
    [s] = monthly_report(db.session, site.id, "2025-03", MARCH, APRIL)
    assert s.opening_fen == 9_500
    assert [s.column(c) for c in ("payments", "fee", "energy", "water", "allocation", "other")] == \
        [21_000, -3_000, -1_500, -200, -383, 0]
    assert s.closing_fen == 9_500 + 21_000 - 3_000 - 1_500 - 200 - 383
    [april] = monthly_report(db.session, site.id, "2025-04", APRIL, month_start(2025, 5))
    assert april.opening_fen == s.closing_fen
    assert april.closing_fen == db.session.get(type(shop), shop.id).balance_fen


def test_report_lists_every_shop_of_the_site_that_existed_in_the_month(make_site, make_account):
    site, other = make_site(), make_site()
    quiet = make_account(site=site, code="A2", created_at=EARLY)
    post_at(quiet, 4_200, EntryKind.OPENING, datetime(2024, 6, 1, tzinfo=SH))
    make_account(site=site, code="A3", created_at=APRIL + timedelta(days=1))  # opened later
    make_account(site=other, code="B1", created_at=EARLY)
    rows = monthly_report(db.session, site.id, "2025-03", MARCH, APRIL)
    assert [(r.code, r.opening_fen, r.closing_fen, r.by_kind) for r in rows] == [("A2", 4_200, 4_200, {})]


def test_line_loss_compares_a_master_with_the_sum_of_its_sub_meters(make_site, make_gateway, make_meter):
    site = make_site()
    gw = make_gateway(site=site)
    master = make_meter(gateway=gw, code="MAIN", profile="chint-dtsu666")
    s1 = make_meter(gateway=gw, code="SUB1", parent_meter_id=master.id)
    s2 = make_meter(gateway=gw, code="SUB2", parent_meter_id=master.id)
    make_meter(gateway=gw, code="LONE")
    add_readings(master, [1_000, 500], MARCH)
    add_readings(s1, [600, 300], MARCH)
    add_readings(s2, [400, None, 100], MARCH)
    add_readings(s1, [5_000], APRIL)  # next month
    [row] = line_loss(db.session, site.id, MARCH, APRIL)
    assert (row.code, row.used, row.subs_used, row.loss, row.loss_bp, row.gaps) == ("MAIN", 1_500, 1_400, 100, 666, 1)
    assert [code for code, _, _ in row.subs] == ["SUB1", "SUB2"]


def test_line_loss_of_a_site_without_master_meters_is_empty(make_site, make_meter, make_gateway):
    site = make_site()
    make_meter(gateway=make_gateway(site=site))
    assert line_loss(db.session, site.id, MARCH, APRIL) == []


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(list(EntryKind)), st.integers(-5_000, 5_000).filter(bool),
                          st.integers(0, 90 * 24)), max_size=25))
def test_report_equals_summing_every_entry_by_kind(make_site, make_account, moves):
    site = make_site()
    shop = make_account(site=site, created_at=EARLY)
    for n, (kind, amount, hours) in enumerate(sorted(moves, key=lambda m: m[2])):
        post_at(shop, amount, kind, datetime(2025, 2, 1, tzinfo=SH) + timedelta(hours=hours, seconds=n))
    [s] = monthly_report(db.session, site.id, "2025-03", MARCH, APRIL)
    naive = dict(db.session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount_fen)).where(
            LedgerEntry.account_id == shop.id, LedgerEntry.created_at >= MARCH, LedgerEntry.created_at < APRIL)
        .group_by(LedgerEntry.kind)).tuples().all())
    assert s.by_kind == {k.value: int(v) for k, v in naive.items() if v}
    before = db.session.execute(select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
        LedgerEntry.account_id == shop.id, LedgerEntry.created_at < MARCH)).scalar_one()
    assert s.opening_fen == before and s.closing == s.closing_fen
