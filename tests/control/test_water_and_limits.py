"""Water follows the same prepaid rules with its valve; payments may not lift a balance above the site's cap."""
from __future__ import annotations

import pytest

from portal.control.balance import RuleError, set_safeguards
from portal.control.commands import command_meter
from portal.extensions import db
from portal.models import AlarmKind, MeterKind
from portal.payments.orders import PaymentError, check_amount
from tests.control.conftest import OFF, ON, alarms, pay, supply, use
from tests.worker.poller.farm import GW, M, start_farm

QUARTER = 15 * 60


@pytest.fixture
def water_farm():
    """One simulated water meter of a shop with 100 fen; the simulator stops after the test."""
    farm = start_farm(GW("GW1", (M(1, profile="payfirst-water-v1", balance_fen=100, load=4_000),)))
    yield farm
    farm.sim.stop()


def test_water_valve_closes_in_arrears_and_opens_after_payment(shop):
    account = shop(balance_fen=100, water=True)
    assert account.meters[0].kind == MeterKind.WATER

    use(account, 100)
    assert supply(account) == [OFF]
    pay(account, 1_000)

    assert supply(account) == [ON]


def test_water_shop_has_the_same_safeguards(shop):
    account = shop(balance_fen=100, water=True)
    command_meter(db.session, account.meters[0], "keep_power_on", "staff:manager")

    use(account, 200)

    assert supply(account) == [ON]
    assert len(alarms(account, AlarmKind.ARREARS)) == 1


def test_water_valve_is_closed_and_reopened_on_the_simulated_meter(water_farm):
    f = water_farm  # 4 m³/h for a quarter is 1 m³: 100 fen at the farm's 1.0000 yuan per m³
    f.cycle(0)
    f.cycle(QUARTER)
    assert f.meter("GW1", 1).supply_desired == OFF
    f.cycle()
    assert f.snapshot("GW1", 1)["supply"] == "off"

    pay(f.meter("GW1", 1).account, 1_000)
    f.cycle()

    assert f.snapshot("GW1", 1)["supply"] == "on"


def test_a_payment_above_the_maximum_balance_is_refused(shop):
    account = shop(balance_fen=9_000, max_balance_fen=10_000)

    assert check_amount(account, 1_000) == 1_000
    with pytest.raises(PaymentError, match="above the site's limit"):
        check_amount(account, 1_001)


def test_a_maximum_balance_below_the_restore_minimum_is_refused(shop):
    site = shop().site
    with pytest.raises(RuleError):
        set_safeguards(db.session, site, "staff:manager", overdraft_limit_fen=0, restore_min_fen=5_000,
                       max_balance_fen=5_000, low_balance_levels_fen=[5_000, 2_000, 500], warning_minutes=0,
                       protect_holidays=True, emergency_credit_fen=0)


def test_safeguards_are_saved_with_levels_highest_first_and_audited(shop):
    site = shop().site

    changed = set_safeguards(db.session, site, "staff:manager", overdraft_limit_fen=1_000, restore_min_fen=2_000,
                             max_balance_fen=100_000, low_balance_levels_fen=[500, 3_000, 1_000], warning_minutes=30,
                             protect_holidays=False, emergency_credit_fen=2_000)
    db.session.commit()

    assert site.low_balance_levels_fen == [3_000, 1_000, 500]
    assert changed["overdraft_limit_fen"] == [0, 1_000]
    assert (site.restore_min_fen, site.max_balance_fen, site.warning_minutes) == (2_000, 100_000, 30)
