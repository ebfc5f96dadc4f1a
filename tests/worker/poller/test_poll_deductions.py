"""Deductions (扣费, 0114H) written into a meter-mode meter: once, in the purchases' count sequence, accounted."""
from __future__ import annotations

from portal.control.commands import queue_deduction
from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import Account, AlarmKind, CommandStatus, ControlCommand, EntryKind
from portal.payments.credit import cash_recharge
from tests.worker.poller.test_poll_books import SHOP, balance, held, pending


def test_purchases_and_deductions_written_between_two_reads_are_accounted_exactly(farm):
    f = farm(SHOP)
    f.cycle(0)
    account = db.session.get(Account, f.meter("GW1", 1).account_id)
    cash_recharge(db.session, account, 2_500, "cash", "staff:c", "k1")  # a purchase queued for the meter
    post_entry(db.session, account, -700, EntryKind.ADJUSTMENT, "adjust:1")
    queue_deduction(db.session, f.meter("GW1", 1), 700, "deduction:adjust:1", "staff:m")
    db.session.commit()
    assert balance(f) == held(f) + pending(f)

    f.cycle(60)  # read, then both written after the read
    assert pending(f) == 0 and balance(f) == held(f)
    f.cycle(60)  # the next read accounts the writes by their counts, and only the usage is debited
    assert balance(f) == held(f)
    snap = f.snapshot("GW1", 1)
    assert (snap["purchase_count"], snap["purchase_total_fen"]) == (2, 2_500)
    meter = f.meter("GW1", 1)
    assert (meter.purchase_count, meter.purchase_total_fen, meter.deduction_total_fen) == (2, 2_500, 700)
    assert f.alarms(AlarmKind.BOOKS_MISMATCH) == []


def test_a_deduction_is_written_into_the_meter_once(farm):
    f = farm(SHOP)
    f.cycle(0)
    post_entry(db.session, f.meter("GW1", 1).account_id, -1_200, EntryKind.ADJUSTMENT, "adjust:2")
    cmd = queue_deduction(db.session, f.meter("GW1", 1), 1_200, "deduction:adjust:2", "staff:m")
    db.session.commit()
    before = held(f)

    for _ in range(3):
        f.cycle(0)

    snap = f.snapshot("GW1", 1)
    assert (snap["remaining_fen"], snap["purchase_count"], snap["purchase_total_fen"]) == (before - 1_200, 1, 0)
    assert db.session.get(ControlCommand, cmd.id).status == CommandStatus.APPLIED
    assert balance(f) == held(f) and f.alarms(AlarmKind.TAMPER) == []
