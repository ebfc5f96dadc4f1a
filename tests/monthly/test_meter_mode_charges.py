"""Meter-mode shops: monthly charges are written into their meters as deductions (扣费), once."""
from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import AllocationMethod, CommandStatus, ControlCommand, ControlMode
from portal.monthly.allocation import allocate
from portal.monthly.fees import run_fees
from tests.monthly.conftest import LATER
from tests.monthly.test_allocation import allocation_entries, mall


def deductions() -> list[ControlCommand]:
    return db.session.execute(select(ControlCommand).where(ControlCommand.action == "deduction")
                              .order_by(ControlCommand.id)).scalars().all()


def test_a_meter_mode_shops_common_area_part_is_deducted_from_its_meter_in_full(mall, make_group, make_meter):
    site, sources, (a, b, c) = mall
    meter = make_meter(account=a, gateway=sources[0].gateway, code="PA", control_mode=ControlMode.METER,
                       books_remaining_fen=100, books_count=0, books_net_fen=0)
    group = make_group(site, AllocationMethod.FIXED, list(sources), {a: 1, b: 2, c: 3})

    allocate(db.session, "2025-03", now=LATER)
    allocate(db.session, "2025-03", now=LATER)  # a rerun posts and queues nothing
    db.session.commit()

    [cmd] = deductions()
    assert (cmd.meter_id, cmd.payload, cmd.status) == (meter.id, {"amount_fen": 64}, CommandStatus.PENDING)
    assert cmd.idempotency_key == f"deduction:alloc:{group.id}:2025-03:{a.id}"
    assert allocation_entries(group)[a.id] == -64  # in full, though the meter holds ¥1.00


def test_a_property_fee_of_a_meter_never_read_is_split_by_the_ledger_balance(billing_site, make_account, make_meter):
    site = billing_site(fee_fixed_fen=5_000)
    shop = make_account(site=site, balance_fen=3_000)
    meter = make_meter(account=shop, control_mode=ControlMode.METER)

    [run] = run_fees(db.session, "2025-03", now=LATER)
    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()

    assert (run.posted_fen, run.arrears_fen) == (2_999, 2_001)
    [cmd] = deductions()
    assert (cmd.meter_id, cmd.payload["amount_fen"]) == (meter.id, 2_999)
    assert cmd.idempotency_key == f"deduction:fee:{shop.id}:2025-03"


def test_a_platform_mode_shops_fee_is_never_written_into_a_meter(billing_site, make_account, make_meter):
    site = billing_site(fee_fixed_fen=5_000)
    make_meter(account=make_account(site=site, balance_fen=30_000))
    run_fees(db.session, "2025-03", now=LATER)
    assert deductions() == []
