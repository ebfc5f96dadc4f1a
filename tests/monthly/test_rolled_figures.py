"""Allocation and line loss read off the daily roll-ups give the figures they gave off the raw readings."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.bulk import insert_rows
from portal.extensions import db
from portal.metering.consumption import period_consumption
from portal.metering.daily import roll_up_readings
from portal.models import AllocationMethod, AllocationRun, IntervalReading, TariffVersion
from portal.monthly import allocation, reports
from portal.monthly.allocation import Skip, allocate, price_and_split
from portal.monthly.reports import line_loss
from tests.metering.test_daily import STEP, sequence, steps
from tests.metering.test_rolled_periods import LATE_FEBRUARY
from tests.monthly.conftest import LATER, month_start

MARCH, APRIL = month_start(2025, 3), month_start(2025, 4)


def raw_used(session, meter_ids, start, end) -> dict[int, int]:
    """The consumption as allocation and line loss read it before the roll-ups: off the registers."""
    return {m: u.amount for m, u in period_consumption(session, meter_ids, start, end).items()}


def raw_gaps(session, meter_ids, start, end) -> dict[int, int]:
    return {m: u.gaps for m, u in period_consumption(session, meter_ids, start, end).items()}


def planned(group):
    try:
        return price_and_split(db.session, group, MARCH, APRIL)
    except Skip as why:
        return why.code


def loss_rows(site):
    return [(r.code, r.used, r.subs, r.gaps) for r in line_loss(db.session, site.id, MARCH, APRIL)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(common=st.lists(steps, min_size=1, max_size=2), shops=st.lists(steps, min_size=1, max_size=3),
       offset=st.integers(0, 300), method=st.sampled_from(list(AllocationMethod)),
       price_change=st.integers(0, 31 * 24 * 60 - 1))
def test_allocation_and_line_loss_give_the_figures_of_the_raw_readings(
        billing_site, make_account, make_gateway, make_meter, make_group, make_tariff, common, shops, offset, method,
        price_change):
    """Resets, offline gaps, readings either side of the month, and a price change at any minute of it (which
    cuts one day by instant): the split, the run and line loss are what the raw readings gave."""
    site = billing_site()
    gw = make_gateway(site=site)
    tariff = make_tariff(site, 10_000)
    db.session.add(TariffVersion(tariff_id=tariff.id, unit_price_e4=23_457,
                                 effective_from=MARCH + timedelta(minutes=price_change)))
    sources = [make_meter(gateway=gw, code=f"C{i}") for i in range(len(common))]
    accounts = [make_account(site=site, code=f"S{i}", balance_fen=1_000_000) for i in range(len(shops))]
    own = [make_meter(account=a, gateway=gw, parent_meter_id=sources[0].id) for a in accounts]
    for meter, life in zip([*sources, *own], [*common, *shops]):
        rows = sequence(meter.id, life, start=LATE_FEBRUARY + offset * STEP)
        insert_rows(db.session, IntervalReading.__table__, rows)
        roll_up_readings(db.session, rows, {meter.id: meter.account_id})
    db.session.commit()
    group = make_group(site, method, sources, {a: i + 1 for i, a in enumerate(accounts)}, tariff=tariff)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(allocation, "used_between", raw_used)
        patch.setattr(reports, "used_between", raw_used)
        patch.setattr(reports, "failed_readings", raw_gaps)
        before, loss_before = planned(group), loss_rows(site)
    assert planned(group) == before
    assert loss_rows(site) == loss_before

    [outcome] = allocate(db.session, "2025-03", site_ids={site.id}, now=LATER)
    db.session.commit()
    if isinstance(before, str):
        assert (outcome.status, outcome.code) == ("skipped", before)
        return
    run = db.session.get(AllocationRun, outcome.run_id)
    assert (run.consumption, run.cost_e5, run.total_fen) == (before.consumption, before.cost_e5, before.total_fen)
    assert {line.account_id: line.amount_fen for line in run.lines} == before.parts
    assert allocate(db.session, "2025-03", site_ids={site.id}, now=LATER)[0].status == "already"
