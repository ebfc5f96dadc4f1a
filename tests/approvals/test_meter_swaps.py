"""Meter swaps at the counter: proposed with a final reading the meter can have measured, run on approval."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    ControlCommand,
    ControlMode,
    EntryKind,
    ProposalStatus,
    Role,
    Tariff,
    TariffVersion,
    utcnow,
)
from tests.approvals.conftest import entries, new_key, proposals, read_at


@pytest.fixture
def priced(site):
    tariff = Tariff(site_id=site.id, code="flat", name="flat")
    db.session.add(tariff)
    db.session.flush()
    db.session.add(TariffVersion(tariff_id=tariff.id, effective_from=utcnow() - timedelta(days=365),
                                 unit_price_e4=10_000))  # 1.00 yuan per kWh
    site.default_tariff_id = tariff.id
    db.session.commit()


def replace(client, meter, final: str, new_code: str = "E101-B", **extra):
    return client.post(f"/staff/counter/meters/{meter.id}/replace",
                       data={"final_reading": final, "new_code": new_code, "new_reading": "0", "key": new_key(),
                             **extra})


def approve(client):
    """The user logged in approves the proposal waiting."""
    [proposal] = [p for p in proposals() if p.status == ProposalStatus.PROPOSED]
    return client.post(f"/staff/approvals/{proposal.id}/approve")


# --- the findings -----------------------------------------------------------------------------------------

def test_a_remaining_amount_typed_at_the_counter_writes_nothing_until_a_manager_approves(client, staff, shop,
                                                                                         make_meter):
    """The review typed ¥50,000 as a meter-mode meter's remaining amount: it went straight into the new meter."""
    meter = make_meter(account=shop, code="P104", control_mode=ControlMode.METER,
                       state={"online": True, "energy_total": 300, "remaining_fen": 4_200, "purchase_count": 7})
    read_at(meter, 300, minutes_ago=10)
    staff()
    replace(client, meter, "3.10", new_code="P104-B", remaining="50000")
    db.session.expire_all()
    assert db.session.scalars(select(ControlCommand).where(ControlCommand.meter_id == meter.id,
                                                           ControlCommand.action == "purchase")).all() == []
    assert meter.code == "P104"
    [proposal] = proposals()
    assert (proposal.status, proposal.amount_fen, proposal.meter_id) == (ProposalStatus.PROPOSED, 5_000_000, meter.id)
    staff(Role.MANAGER)
    html = client.get("/staff/approvals").get_data(as_text=True)
    assert "¥50,000.00" in html and "¥100.00" in html  # what it writes beside what the ledger holds


def test_a_final_reading_the_meter_cannot_have_measured_is_refused(client, staff, shop, priced):
    """The review typed 100,000 kWh: ¥95,000 was charged at once and supply cut."""
    meter = shop.meters[0]
    read_at(meter, 100_000, minutes_ago=20)  # 1,000.00 kWh twenty minutes ago
    staff()
    res = replace(client, meter, "100000")
    assert entries(EntryKind.ENERGY) == [] and proposals() == []
    html = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "more than this meter can have measured" in html and "at most 1072.00" in html  # 72 kW for an hour
    db.session.expire_all()
    assert (meter.code, meter.supply_desired.value) == ("E101", "on")


def test_an_approved_swap_bills_its_final_reading_in_both_names(client, staff, shop, priced):
    meter = shop.meters[0]
    read_at(meter, 100_000, minutes_ago=20)
    cashier = staff()
    replace(client, meter, "1012.50")
    assert entries(EntryKind.ENERGY) == []
    manager = staff(Role.MANAGER)
    approve(client)
    [charge] = entries(EntryKind.ENERGY)
    assert charge.amount_fen == -1_250  # 12.50 kWh at 1.00 yuan
    assert (charge.actor, charge.approved_by) == (cashier.actor, manager.actor)
    db.session.expire_all()
    assert meter.code == "E101-B"


def test_a_swap_waiting_for_approval_cannot_be_proposed_twice(client, staff, shop):
    meter = shop.meters[0]
    read_at(meter, 100_000, minutes_ago=20)
    staff()
    replace(client, meter, "1001")
    replace(client, meter, "1002")
    assert len(proposals()) == 1


def test_an_approval_checks_the_reading_again(client, staff, shop):
    meter = shop.meters[0]
    read_at(meter, 100_000, minutes_ago=20)
    staff()
    replace(client, meter, "1010")
    read_at(meter, 102_000, minutes_ago=1)  # the old meter was still read after the proposal
    staff(Role.MANAGER)
    approve(client)
    [proposal] = proposals()
    assert proposal.status == ProposalStatus.PROPOSED and "below the last recorded" in proposal.error
