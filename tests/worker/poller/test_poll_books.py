"""Meter mode keeps one set of books: the ledger mirrors what the meter holds (SPEC §3), read by real polls."""
from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import (
    Account,
    AlarmKind,
    CommandStatus,
    ControlCommand,
    EntryKind,
    LedgerEntry,
    Site,
)
from portal.monthly.fees import run_fees
from portal.payments.credit import cash_recharge
from tests.worker.poller.farm import GW, M
from worker.poller import run_cycle

#: one meter-mode shop holding ¥100 in its meter and in the ledger; 2 kW at ¥1.0000/kWh: ¥0.0333 a minute
SHOP = GW("GW1", (M(1, control_mode="meter", balance_fen=10_000, remaining_fen=10_000, load=2_000),))


def balance(f) -> int:
    return db.session.get(Account, f.meter("GW1", 1).account_id).balance_fen


def held(f) -> int:
    return f.snapshot("GW1", 1)["remaining_fen"]


def pending(f) -> int:
    """Purchases minus deductions queued for the meter and not yet written."""
    rows = db.session.execute(select(ControlCommand.action, ControlCommand.payload).where(
        ControlCommand.meter_id == f.meter("GW1", 1).id, ControlCommand.status == CommandStatus.PENDING,
        ControlCommand.action.in_(("purchase", "deduction")))).all()
    return sum(p["amount_fen"] * (1 if a == "purchase" else -1) for a, p in rows)


def usage_entries() -> list[LedgerEntry]:
    return db.session.execute(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.ENERGY)
                              .order_by(LedgerEntry.id)).scalars().all()


def test_each_decrease_of_the_meters_remaining_amount_is_a_usage_debit(farm):
    f = farm(SHOP)
    f.cycle(0)  # the books start at the first read
    for _ in range(3):
        f.cycle(60)
        assert balance(f) == held(f)  # what the tenant sees is what the meter holds
    entries = usage_entries()
    assert len(entries) == 3 and -sum(e.amount_fen for e in entries) == 10_000 - held(f)
    meter = f.meter("GW1", 1)
    assert all(e.meter_id == meter.id and e.idempotency_key.startswith(f"usage:{meter.id}:") for e in entries)
    assert f.alarms(AlarmKind.BOOKS_MISMATCH) == [] and f.alarms(AlarmKind.TAMPER) == []


def test_a_read_is_accounted_once_even_when_its_cycle_is_rolled_back(farm):
    f = farm(SHOP)
    f.cycle(0)
    f.clock.advance(600)
    run_cycle(db.session, list(f.gateway_ids.values()), now=f.now)
    db.session.rollback()  # the cycle's commit was lost

    f.cycle(0)  # the same instant read again
    f.cycle(0)  # and again: nothing new to account
    assert len(usage_entries()) == 1 and balance(f) == held(f)


def test_a_meter_mode_shops_low_balance_levels_fire(farm):
    f = farm(SHOP)
    db.session.get(Site, f.site_id).low_balance_levels_fen = [9_990, 5_000]
    db.session.commit()
    f.cycle(0)
    f.cycle(60)
    assert f.alarms(AlarmKind.LOW_BALANCE_1) == []
    f.cycle(300)  # ¥0.1667 more: below ¥99.90

    [alarm] = f.alarms(AlarmKind.LOW_BALANCE_1)
    assert alarm.account_id == f.meter("GW1", 1).account_id and f.alarms(AlarmKind.LOW_BALANCE_2) == []
    assert f.snapshot("GW1", 1)["supply"] == "on"  # the platform never switches a meter-mode meter for money


def test_money_put_into_the_meter_behind_the_platforms_back_is_tamper_and_a_books_mismatch(farm, runner):
    f = farm(SHOP)
    f.cycle(0)
    f.sim_meter("GW1", 1).set_remaining(held(f) + 5_000)  # a service tool, no purchase

    f.cycle(60)

    [tamper] = f.alarms(AlarmKind.TAMPER)
    assert tamper.subject == f"meter:{f.meter('GW1', 1).id}:remaining" and "without a write" in tamper.message
    [mismatch] = f.alarms(AlarmKind.BOOKS_MISMATCH)
    assert mismatch.account_id == f.meter("GW1", 1).account_id
    gap = held(f) - balance(f)
    assert 5_000 - 4 <= gap <= 5_000  # less what the meter used in the minute of the top-up
    f.cycle(60)  # what is used is still debited; the gap stays
    assert held(f) - balance(f) == gap
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1 and "meters hold" in result.output and "1 meter-mode shop(s)" in result.output


def test_the_books_mismatch_clears_when_the_books_agree_again(farm, runner):
    f = farm(SHOP)
    f.cycle(0)
    f.sim_meter("GW1", 1).set_remaining(held(f) + 5_000)
    f.cycle(60)
    post_entry(db.session, f.meter("GW1", 1).account_id, held(f) - balance(f), EntryKind.ADJUSTMENT,
               "adjust:found", memo="money found in the meter", actor="staff:m")
    db.session.commit()

    f.cycle(60)

    assert f.alarms(AlarmKind.BOOKS_MISMATCH) == []
    assert len(f.alarms(AlarmKind.BOOKS_MISMATCH, open_only=False)) == 1
    assert runner.invoke(args=["ledger", "check"]).exit_code == 0


def test_a_property_fee_is_deducted_only_as_far_as_the_meter_stays_above_zero(farm):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=3_000, remaining_fen=3_000),)))
    db.session.get(Site, f.site_id).fee_fixed_fen = 5_000
    db.session.commit()
    f.cycle(0)

    [run] = run_fees(db.session, "2025-03", now=f.now)
    db.session.commit()
    f.cycle(0)

    assert (run.posted_fen, run.arrears_fen) == (2_999, 2_001)
    account = db.session.get(Account, f.meter("GW1", 1).account_id)
    assert (account.balance_fen, account.fee_arrears_fen) == (1, 2_001)
    assert held(f) == 1 and f.snapshot("GW1", 1)["supply"] == "on"
    [cmd] = db.session.execute(select(ControlCommand).where(ControlCommand.action == "deduction")).scalars()
    assert (cmd.idempotency_key, cmd.status) == (f"deduction:fee:{account.id}:2025-03", CommandStatus.APPLIED)


def test_under_the_fee_trip_policy_the_whole_fee_is_deducted_and_the_meter_trips_itself(farm):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=3_000, remaining_fen=3_000),)))
    site = db.session.get(Site, f.site_id)
    site.fee_fixed_fen, site.fee_trip_enabled = 5_000, True
    db.session.commit()
    f.cycle(0)

    run_fees(db.session, "2025-03", now=f.now)
    db.session.commit()
    f.cycle(0)

    assert balance(f) == held(f) == -2_000
    snap = f.snapshot("GW1", 1)
    assert (snap["supply"], snap["trip_reason"]) == ("off", "arrears")


def test_a_shop_with_a_platform_mode_meter_pays_its_charges_out_of_its_meter_mode_meter(farm, runner):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=10_000, remaining_fen=10_000, load=2_000),
                        M(2, balance_fen=None, load=2_000))))
    mixed = f.meter("GW1", 2)
    mixed.account_id = f.meter("GW1", 1).account_id  # the same shop's platform-mode meter, billed by the platform
    db.session.commit()
    f.cycle(0)
    f.cycle(15 * 60)  # the platform-mode meter's quarter hour is charged, and queued as a deduction
    assert pending(f) < 0
    f.cycle(16 * 60)  # written into the meter-mode meter (and the next charge queued)
    written = db.session.scalars(select(ControlCommand).where(ControlCommand.action == "deduction",
                                                              ControlCommand.status == CommandStatus.APPLIED)).all()
    assert written and balance(f) == held(f) + pending(f) < 10_000
    assert f.alarms(AlarmKind.BOOKS_MISMATCH) == [] and runner.invoke(args=["ledger", "check"]).exit_code == 0


def test_a_fall_of_the_remaining_amount_is_usage_whatever_caused_it(farm):
    """The registers cannot tell a service tool's cut from consumption (README): it is debited, no alarm."""
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=10_000, remaining_fen=10_000),)))
    f.cycle(0)
    f.sim_meter("GW1", 1).set_remaining(500)
    f.cycle(60)
    assert balance(f) == 500
    assert f.alarms(AlarmKind.TAMPER) == [] and f.alarms(AlarmKind.BOOKS_MISMATCH) == []


def test_books_that_begin_catch_up_with_what_the_meter_used_before(farm):
    """A shop from before the books (its ledger never debited): its first read debits the difference once."""
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=10_000, remaining_fen=7_000),)))
    f.cycle(0)
    f.cycle(60)
    [entry] = usage_entries()
    assert entry.amount_fen == -3_000 and "before its books began" in entry.memo
    assert balance(f) == held(f) == 7_000 and f.alarms(AlarmKind.BOOKS_MISMATCH) == []


def test_a_meter_holding_more_than_the_ledger_when_its_books_begin_is_never_credited(farm):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=1_000, remaining_fen=7_000),)))
    f.cycle(0)
    assert usage_entries() == [] and balance(f) == 1_000
    [mismatch] = f.alarms(AlarmKind.BOOKS_MISMATCH)
    assert "the ledger has ¥60.00 less" in mismatch.message
