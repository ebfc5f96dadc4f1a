"""The balance rules tell the shop: each low-balance level and arrears once per crossing, emergency credit taken
and repaid, and each counter recharge credited."""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from portal.control.calendar import add_no_trip_window
from portal.control.commands import command_meter
from portal.control.emergency import take_emergency_credit
from portal.counter.operations import close_account, counter_recharge
from portal.extensions import db
from portal.models import Alarm, AlarmKind
from portal.notify.events import EVENTS
from portal.web.alarm_text import alarm_text
from tests.control.conftest import WORKDAY, local, pay, use
from tests.notify.told import SHOP_PHONE, told, with_phone
from worker.jobs.control import enforce_arrears

LEVELS = [5_000, 2_000, 500]  # the site's defaults


@pytest.fixture
def phoned(shop):
    """phoned(balance_fen, **site settings) -> a shop with a phone on file."""
    return lambda balance_fen=6_000, **kw: with_phone(shop(balance_fen=balance_fen, **kw))


def test_crossing_a_low_level_tells_the_shop_its_balance_and_the_level(phoned):
    account = phoned(6_000)

    use(account, 1_050)

    [sms] = told("low_balance_1", account)
    assert (sms.recipient, sms.status.value, sms.urgent) == (SHOP_PHONE, "pending", False)
    assert sms.params == {"shop": account.code, "shop_name": account.name, "balance": "49.50", "level": "50.00"}
    assert "余额 ¥49.50，已低于 ¥50.00" in sms.text
    alarm = db.session.get(Alarm, int(sms.dedupe_key.split(":")[2]))
    assert (alarm.kind.value, alarm.account_id) == ("low_balance_1", account.id)


def test_billing_again_below_the_level_tells_nothing_more(phoned):
    account = phoned(5_100)
    for _ in range(4):
        use(account, 100)

    assert len(told("low_balance_1", account)) == 1


def test_falling_past_every_level_at_once_tells_each_level(phoned):
    account = phoned(6_000)

    use(account, 5_600)

    assert [told(f"low_balance_{n}", account)[0].params["level"] for n in (1, 2, 3)] == ["50.00", "20.00", "5.00"]


def test_a_level_crossed_again_after_a_recharge_is_told_again(phoned):
    account = phoned(6_000)
    use(account, 1_000)
    pay(account, 2_000)  # back above level 1: its alarm clears

    use(account, 2_000)

    assert [d.params["balance"] for d in told("low_balance_1", account)] == ["50.00", "50.00"]


def test_arrears_with_a_warning_period_tells_when_supply_goes_off_and_what_restores_it(phoned):
    account = phoned(100, warning_minutes=30, restore_min_fen=1_000)

    use(account, 150, now=WORKDAY)  # Monday 10:00 in Shanghai
    use(account, 10, now=WORKDAY + timedelta(minutes=5))

    [sms] = told("arrears", account)
    assert sms.params == {"shop": account.code, "shop_name": account.name, "balance": "-0.50",
                          "trip_at": "2026-03-02 10:30", "restore": "10.00"}


def test_arrears_without_a_warning_period_says_supply_goes_off_now(phoned):
    account = phoned(100)

    use(account, 100, now=WORKDAY)

    [sms] = told("arrears", account)
    assert (sms.params["trip_at"], sms.params["restore"]) == ("2026-03-02 10:00", "0.01")


def held_sms(account):
    """The one arrears message the shop was told, which must be the variant without a trip time."""
    assert told("arrears", account) == []
    [sms] = told("arrears_held", account)
    assert "trip_at" not in sms.params and not sms.urgent
    return sms


def test_arrears_of_an_exempt_shop_says_supply_stays_on_and_why(shop):
    account = with_phone(shop(balance_fen=100, exempt=True, restore_min_fen=1_000))

    use(account, 150, now=WORKDAY)

    sms = held_sms(account)
    assert sms.params == {"shop": account.code, "shop_name": account.name, "balance": "-0.50",
                          "why": "本店为免断电商户", "restore": "10.00"}
    assert sms.text == (f"{account.code} {account.name}：余额 ¥-0.50，已欠费。本店为免断电商户，暂不断电；"
                        "请缴费 ¥10.00 及以上。")
    english = {**sms.params, "why": "your shop is exempt from switch-off"}  # params are written in Chinese
    assert EVENTS["arrears_held"].text(english, "en") == (
        f"{account.code} {account.name}: your balance is ¥-0.50, in arrears. Supply stays on (your shop is exempt "
        "from switch-off); please pay ¥10.00 or more.")


def test_arrears_with_keep_power_on_every_meter_says_keep_power(shop):
    account = with_phone(shop(balance_fen=100, meters=2))
    for meter in account.meters:
        command_meter(db.session, meter, "keep_power_on", "staff:manager")
    db.session.commit()

    use(account, 100, now=WORKDAY)

    assert held_sms(account).params["why"] == "已批准保电"


def test_arrears_with_keep_power_on_one_meter_of_two_still_warns_of_the_trip(shop):
    account = with_phone(shop(balance_fen=100, meters=2))
    command_meter(db.session, account.meters[0], "keep_power_on", "staff:manager")
    db.session.commit()

    use(account, 100, now=WORKDAY)

    assert told("arrears_held", account) == []
    assert told("arrears", account)[0].params["trip_at"] == "2026-03-02 10:00"


def test_arrears_in_a_no_trip_window_says_it_is_a_no_trip_time(shop):
    account = with_phone(shop(balance_fen=100))
    add_no_trip_window(db.session, account.site, 0, "08:00", "12:00", "staff:manager")  # Monday mornings
    db.session.commit()

    use(account, 100, now=WORKDAY)  # Monday 10:00

    assert held_sms(account).params["why"] == "现为不断电时段"
    [alarm] = db.session.scalars(select(Alarm).where(Alarm.account_id == account.id,
                                                     Alarm.kind == AlarmKind.ARREARS)).all()
    assert alarm.data["held"] == "no_trip_time"
    with force_locale("en"):
        assert alarm_text(alarm) == f"{account.code}: in arrears, balance ¥0.00; a safeguard keeps supply on"


def test_arrears_on_a_public_holiday_says_it_is_a_no_trip_time(shop):
    account = with_phone(shop(balance_fen=100, protect_holidays=True))

    use(account, 100, now=local(2026, 10, 1, 10))  # National Day

    assert held_sms(account).params["why"] == "现为不断电时段"


def test_a_shop_without_a_phone_on_file_is_told_nothing(shop):
    account = shop(balance_fen=6_000)

    use(account, 6_000)

    assert told("low_balance_1") == [] and told("arrears") == []


def test_a_counter_recharge_tells_the_amount_the_method_and_the_balance(phoned):
    account = phoned(1_000)

    entry, created = counter_recharge(db.session, account, 5_000, "transfer", "", "staff:cashier", "a" * 32)
    db.session.commit()
    counter_recharge(db.session, account, 5_000, "transfer", "", "staff:cashier", "a" * 32)  # the form again
    db.session.commit()

    [sms] = told("payment_credited", account)
    assert created and sms.dedupe_key.startswith(f"payment_credited:entry:{entry.id}:")
    assert sms.params == {"shop": account.code, "shop_name": account.name, "amount": "50.00",
                          "channel": "转账", "balance": "60.00"}


def test_taking_emergency_credit_and_repaying_it_are_told_once_each(phoned):
    account = phoned(100, emergency_credit_fen=2_000)
    use(account, 100)

    entry = take_emergency_credit(db.session, account, "tenant:1")
    db.session.commit()
    pay(account, 500)  # repays 500 of 2,000
    assert told("emergency_repaid", account) == []
    pay(account, 3_000)  # repays the rest
    pay(account, 1_000)

    [taken] = told("emergency_taken", account)
    assert taken.dedupe_key.startswith(f"emergency_taken:entry:{entry.id}:")
    assert (taken.params["amount"], taken.params["balance"]) == ("20.00", "20.00")
    [repaid] = told("emergency_repaid", account)
    assert (repaid.params["amount"], repaid.params["balance"]) == ("20.00", "35.00")
    assert [d.params["amount"] for d in told("payment_credited", account)] == ["5.00", "30.00", "10.00"]


def test_a_closed_shop_is_told_nothing_when_the_arrears_rules_look_at_it_again(phoned):
    account = phoned(3_000)
    close_account(db.session, account, "lease ended", "staff:c")
    db.session.commit()

    enforce_arrears(now=WORKDAY)  # its balance is 0 now: at the trip point
    db.session.commit()

    assert told("arrears") == [] and told("low_balance_1") == []
