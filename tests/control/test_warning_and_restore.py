"""The warning period before a trip, and the minimum balance before supply is restored (合闸允许金额)."""
from __future__ import annotations

from datetime import timedelta

from portal.extensions import db
from portal.models import AlarmKind
from tests.control.conftest import OFF, ON, WORKDAY, alarms, pay, supply, use
from worker.jobs.control import enforce_arrears


def test_the_first_crossing_warns_the_shop_instead_of_tripping(shop):
    account = shop(balance_fen=100, warning_minutes=30)

    use(account, 100, now=WORKDAY)

    assert supply(account) == [ON]
    assert account.arrears_warned_at == WORKDAY
    assert len(alarms(account, AlarmKind.ARREARS)) == 1


def test_the_warning_period_ends_in_a_trip_by_the_minute_job(shop):
    account = shop(balance_fen=100, warning_minutes=30)
    use(account, 100, now=WORKDAY)

    assert enforce_arrears(now=WORKDAY + timedelta(minutes=29)) == 0
    assert supply(account) == [ON]
    assert enforce_arrears(now=WORKDAY + timedelta(minutes=30)) == 1
    assert supply(account) == [OFF]


def test_billing_again_during_the_warning_keeps_the_first_warning_time(shop):
    account = shop(balance_fen=100, warning_minutes=30)
    use(account, 100, now=WORKDAY)
    use(account, 10, now=WORKDAY + timedelta(minutes=15))

    assert account.arrears_warned_at == WORKDAY
    assert supply(account) == [ON]
    use(account, 10, now=WORKDAY + timedelta(minutes=30))
    assert supply(account) == [OFF]


def test_paying_during_the_warning_forgets_it(shop):
    account = shop(balance_fen=100, warning_minutes=30)
    use(account, 100, now=WORKDAY)

    pay(account, 1_000)

    db.session.refresh(account)
    assert account.arrears_warned_at is None
    assert alarms(account, AlarmKind.ARREARS) == []
    assert enforce_arrears(now=WORKDAY + timedelta(minutes=31)) == 0


def test_without_a_restore_minimum_one_fen_above_the_threshold_restores(shop):
    account = shop(balance_fen=100)
    use(account, 300)

    pay(account, 200)  # balance 0: still at the threshold
    assert supply(account) == [OFF]
    pay(account, 1)

    assert supply(account) == [ON]


def test_supply_stays_off_until_the_restore_minimum_is_reached(shop):
    account = shop(balance_fen=100, restore_min_fen=2_000)
    use(account, 300)

    pay(account, 2_199)  # balance 1,999: out of arrears, but below the minimum
    assert supply(account) == [OFF]
    assert len(alarms(account, AlarmKind.ARREARS)) == 1
    pay(account, 1)

    assert supply(account) == [ON]
    assert alarms(account, AlarmKind.ARREARS) == []


def test_restore_minimum_applies_to_a_negative_threshold_too(shop):
    account = shop(balance_fen=0, overdraft_limit_fen=1_000, restore_min_fen=500)
    use(account, 1_000)
    assert supply(account) == [OFF]

    pay(account, 1_499)
    assert supply(account) == [OFF]
    pay(account, 1)

    assert supply(account) == [ON]


def test_arrears_alarm_is_cleared_on_recovery_and_raised_again_on_the_next_crossing(shop):
    account = shop(balance_fen=100)
    use(account, 100)
    pay(account, 500)
    use(account, 500)

    raised = alarms(account, AlarmKind.ARREARS, open_only=False)
    assert [a.cleared_at is not None for a in raised] == [True, False]
