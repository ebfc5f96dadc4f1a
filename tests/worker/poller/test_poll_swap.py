"""A meter-mode meter swapped (换表): its books close by the typed remaining amount, the new meter gets the books'."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.metering.swap import SwapRefused, replace_meter
from portal.models import Account, AlarmKind, CommandStatus, ControlCommand
from tests.worker.poller.farm import GW, PRICE_E4, M
from worker.simulator import SimMeterSpec

SHOP = GW("GW1", (M(1, control_mode="meter", balance_fen=10_000, remaining_fen=10_000, load=2_000),))


def balance(f) -> int:
    return db.session.get(Account, f.meter("GW1", 1).account_id).balance_fen


def swap(f, typo_fen: int = 0):
    """The cashier reads the old meter and types it in (with a typo, if any); the technician fits a fresh
    meter at the same address. Returns the replacement and what the old meter showed."""
    f.clock.advance(1)  # a moment after the last poll (a poll's readings sit on the quarter hours)
    old = f.snapshot("GW1", 1)
    done = replace_meter(db.session, f.meter("GW1", 1), old["energy_total"], "E1-B", 0, "staff:c",
                         remaining_fen=old["remaining_fen"] + typo_fen, now=f.now)
    db.session.commit()
    fresh = f.sim.replace_meter("GW1", SimMeterSpec(1, "payfirst-prepaid-v1", control_mode="meter",
                                                    price_e4=PRICE_E4, remaining_fen=0))
    fresh.set_load(2_000)
    return done, old["remaining_fen"]


def test_a_swap_closes_the_old_meters_books_and_the_new_meter_gets_what_they_say(farm):
    f = farm(SHOP)
    f.cycle(0)
    f.cycle(60)
    f.clock.advance(119)  # used since the last read: the final reading shows it

    done, final = swap(f)

    assert (done.carried_fen, done.final_usage_fen) == (final, 10_000 - 3 - final)
    assert balance(f) == final
    f.cycle(0)  # the new meter is read, then given the money as a purchase
    snap = f.snapshot("GW1", 1)
    assert (snap["remaining_fen"], snap["purchase_count"], snap["purchase_total_fen"]) == (final, 1, final)
    f.cycle(60)
    assert balance(f) == f.snapshot("GW1", 1)["remaining_fen"] < final
    assert f.alarms(AlarmKind.TAMPER) == [] and f.alarms(AlarmKind.BOOKS_MISMATCH) == []


def test_the_new_meter_never_gets_more_than_the_books_say_the_old_one_held(farm):
    f = farm(SHOP)
    f.cycle(0)
    books = balance(f)

    done, _ = swap(f, typo_fen=50_000)  # typed wrong, or money put in behind the platform's back

    assert (done.carried_fen, done.final_usage_fen, balance(f)) == (books, 0, books)
    [tamper] = f.alarms(AlarmKind.TAMPER)
    assert tamper.subject.endswith(":remaining") and "more than its books" in tamper.message
    f.cycle(0)
    assert f.snapshot("GW1", 1)["remaining_fen"] == books


def test_a_swap_typed_with_a_remaining_amount_no_meter_can_hold_is_refused(farm):
    f = farm(SHOP)
    f.cycle(0)
    with pytest.raises(SwapRefused):
        replace_meter(db.session, f.meter("GW1", 1), 0, "E1-B", 0, "staff:c", remaining_fen=99_999_999_999)
    db.session.rollback()
    assert db.session.execute(select(ControlCommand)).first() is None
    assert f.meter("GW1", 1).code == "GW1-1"
    stats = f.cycle(60)  # and the gateway is polled as ever
    assert (stats.read, stats.missed) == (1, 0)


@pytest.mark.parametrize("final_total, new_start", [(100_000_000, 0), (0, 100_000_000), (-1, 0)])
def test_a_swap_reading_beyond_the_register_is_refused(farm, final_total, new_start):
    f = farm(SHOP)
    with pytest.raises(SwapRefused):
        replace_meter(db.session, f.meter("GW1", 1), final_total, "E1-B", new_start, "staff:c", remaining_fen=0)


def test_a_large_carry_goes_in_as_purchases_a_meter_accepts(farm):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=25_000_000, remaining_fen=25_000_000),)))
    f.cycle(0)
    done, _ = swap(f)
    amounts = [c.payload["amount_fen"] for c in db.session.execute(
        select(ControlCommand).order_by(ControlCommand.id)).scalars()]
    assert done.carried_fen == 25_000_000 and amounts == [10_000_000, 10_000_000, 5_000_000]
    f.cycle(0)
    assert f.snapshot("GW1", 1)["remaining_fen"] == 25_000_000
    statuses = {c.status for c in db.session.execute(select(ControlCommand)).scalars()}
    assert statuses == {CommandStatus.APPLIED}
