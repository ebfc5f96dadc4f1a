"""Platform mode: interval deltas are billed until the balance is gone, the relay opens; a credit closes it."""
from __future__ import annotations

from portal.control.balance import enforce_balance
from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import EntryKind, Supply
from tests.worker.poller.farm import GW, M

QUARTER = 15 * 60
#: 2 kW for 15 minutes is 0.50 kWh: 50 fen at 1.0000 yuan per kWh
SHOP = M(1, balance_fen=100, load=2_000)


def _bill_to_zero(f) -> None:
    f.cycle(0)  # 12:00, the first reading: a baseline, nothing billed
    f.cycle(QUARTER)  # 12:15: 50 fen
    f.cycle(QUARTER)  # 12:30: 50 fen, balance 0


def test_balance_billed_to_zero_sets_supply_desired_off_and_asks_for_a_poll(farm, polls):
    f = farm(GW("GW1", (SHOP,)))
    _bill_to_zero(f)

    meter = f.meter("GW1", 1)
    assert meter.account.balance_fen == 0
    assert (meter.supply_desired, meter.desired_reason) == (Supply.OFF, "arrears")
    assert f.gateway_ids["GW1"] in polls
    assert f.snapshot("GW1", 1)["supply"] == "on"  # decided, not yet done: the poll does it


def test_the_poll_after_arrears_opens_the_relay(farm):
    f = farm(GW("GW1", (SHOP,)))
    _bill_to_zero(f)

    f.cycle()

    snap = f.snapshot("GW1", 1)
    assert (snap["supply"], snap["trip_reason"]) == ("off", "remote")
    assert f.meter("GW1", 1).state.supply_actual == Supply.OFF


def test_a_credit_closes_the_relay_through_the_next_poll(farm, polls):
    f = farm(GW("GW1", (SHOP,)))
    _bill_to_zero(f)
    f.cycle()
    account = f.meter("GW1", 1).account
    polls.clear()

    post_entry(db.session, account, 1_000, EntryKind.CASH, "cash:test:1")
    enforce_balance(db.session, account, actor="staff:cashier")
    db.session.commit()
    assert (f.meter("GW1", 1).supply_desired, polls) == (Supply.ON, [f.gateway_ids["GW1"]])
    f.cycle()

    assert f.snapshot("GW1", 1)["supply"] == "on"
    assert f.meter("GW1", 1).state.supply_actual == Supply.ON

