"""The shop page tells the owner why the supply is off and what undoes it, and what keeps it on."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.control.commands import command_meter
from portal.extensions import db
from portal.models import ControlMode, NoTripWindow, Supply, utcnow
from portal.tenant.supply import supply_state

EN = {"Accept-Language": "en"}


@pytest.fixture
def shop(make_site, make_account, make_meter, make_tenant, login):
    """make(balance_fen, **site) -> a logged-in tenant's shop with one platform-mode meter, supply on."""
    def make(balance_fen: int = 10_000, **site):
        site = make_site(protect_holidays=False, **site)
        acct = make_account(site=site, code="S300", name="Tea shop", balance_fen=balance_fen)
        acct.meter = make_meter(account=acct, code="E300", state={"online": True, "supply_actual": Supply.ON,
                                                                   "energy_total": 123_456, "power_w": 1_530})
        login.tenant(make_tenant([acct]), acct)
        return acct
    return make


def page(client, acct, **headers) -> str:
    return client.get(f"/t/a/{acct.id}", headers=headers).get_data(as_text=True)


def supply_block(html: str) -> str:
    return re.search(r'<div id="supply".*?</div>', html, re.S).group(0)


def off(meter, reason: str) -> None:
    meter.supply_desired, meter.desired_reason = Supply.OFF, reason
    meter.state.supply_actual = Supply.OFF
    db.session.commit()


def test_a_shop_tripped_by_staff_with_credit_is_told_whom_to_call_and_never_asked_to_pay(client, shop):
    """Reviewer finding: "a shop tripped by an operator with ¥2,273.93 in credit sees only 已断电"."""
    acct = shop(balance_fen=227_393, name="Grand mall")
    command_meter(db.session, acct.meter, "trip", "staff:op1", reason="wiring check")
    acct.meter.state.supply_actual = Supply.OFF
    db.session.commit()

    html = supply_block(page(client, acct))  # Chinese by default
    assert 'data-reason="remote"' in html
    assert "物业工作人员" in html and "Grand mall" in html  # staff switched it off; call the site's office
    assert 'data-testid="call-office"' in html
    assert 'data-testid="restore"' not in html and "¥" not in html  # no amount to pay: paying does not help

    english = supply_block(page(client, acct, **EN))
    assert "Staff of the property office switched it off." in english
    assert "please call the property office of Grand mall" in english
    assert "Pay ¥" not in english


def test_off_for_money_says_what_to_pay_to_restore(client, shop):
    acct = shop(balance_fen=-500, restore_min_fen=10_000)
    off(acct.meter, "arrears")
    html = supply_block(page(client, acct, **EN))
    assert "The balance is used up." in html
    # the restore level R = ¥100.00, the balance -¥5.00: ¥105.00 brings it back
    assert re.search(r'data-testid="restore">Pay ¥105.00 to restore the supply.', html)
    assert 'data-testid="call-office"' not in html
    assert "余额已用完" in supply_block(page(client, acct))


def test_what_to_pay_includes_the_emergency_credit_and_fees_repaid_first(client, shop):
    acct = shop(balance_fen=-500, restore_min_fen=10_000)
    acct.emergency_owed_fen, acct.fee_arrears_fen = 3_000, 1_200
    off(acct.meter, "arrears")
    assert supply_state(acct).restore_fen == 10_500 + 3_000 + 1_200
    assert "Pay ¥147.00 to restore" in page(client, acct, **EN)


def test_what_to_pay_is_never_below_the_smallest_payment(client, shop):
    acct = shop(balance_fen=-1)  # R is one fen above the trip point 0: one fen would do, ¥1.00 is the least
    off(acct.meter, "arrears")
    assert supply_state(acct).restore_fen == 100


@pytest.mark.parametrize("reason, text", [
    ("over_power", "The power drawn was above the shop's limit."),
    ("closure", "The account is closed."),
    ("", "It was switched off at the meter."),
])
def test_every_other_reason_says_whom_to_call(client, shop, reason, text):
    acct = shop(balance_fen=50_000)
    off(acct.meter, reason)
    html = supply_block(page(client, acct, **EN))
    assert text in html and 'data-testid="call-office"' in html and "Pay ¥" not in html


def test_a_reason_money_cannot_undo_is_told_before_arrears(client, shop, make_meter):
    acct = shop(balance_fen=-500)
    off(acct.meter, "arrears")
    other = make_meter(account=acct, code="E301", state={"online": True, "supply_actual": Supply.OFF})
    off(other, "remote")
    assert supply_state(acct).reason == "remote" and supply_state(acct).restore_fen is None


def test_a_meter_mode_meter_out_of_credit_asks_for_what_lifts_it_above_zero(client, shop, make_meter):
    acct = shop(balance_fen=0)
    acct.meter.profile = "chint-dtsu666"  # no relay: only the meter-mode meter switches
    make_meter(account=acct, code="P300", control_mode=ControlMode.METER,
               state={"online": True, "supply_actual": Supply.OFF, "remaining_fen": -2_345, "trip_reason": "arrears"})
    db.session.commit()
    html = supply_block(page(client, acct, **EN))
    assert "The meter's credit is used up." in html and "Pay ¥23.46 to restore the supply." in html


def test_switched_back_on_but_not_yet_read_is_restoring_not_off(client, shop):
    acct = shop()
    acct.meter.state.supply_actual = Supply.OFF  # desired on: the relay has not closed yet
    db.session.commit()
    html = page(client, acct, **EN)
    assert 'data-state="restoring"' in html and "Supply off" not in html
    assert 'hx-trigger="every 2s, shop-changed from:body"' in html  # looks again soon


def test_keep_power_is_told_with_when_it_ends(client, shop):
    acct = shop(balance_fen=-500)
    acct.meter.keep_power, acct.meter.keep_power_until = True, utcnow() + timedelta(days=2)
    db.session.commit()
    html = supply_block(page(client, acct, **EN))
    assert 'data-notice="keep_power"' in html and "Keep-power is granted until" in html


def test_an_exempt_shop_is_told_so(client, shop):
    acct = shop(balance_fen=-500)
    acct.exempt = True
    db.session.commit()
    assert "This shop is exempt from switch-off for money." in page(client, acct, **EN)


def test_a_no_trip_time_is_told_with_what_to_pay_before_it_ends(client, shop):
    acct = shop(balance_fen=-500, restore_min_fen=1_000)
    for weekday in range(7):
        db.session.add(NoTripWindow(site_id=acct.site_id, weekday=weekday, start="00:00", end="24:00"))
    db.session.commit()
    html = supply_block(page(client, acct, **EN))
    assert 'data-notice="no_trip_time"' in html and "Pay ¥15.00 before it ends" in html


def test_the_warning_period_tells_when_supply_goes_off(client, shop):
    acct = shop(balance_fen=-500, warning_minutes=60)
    acct.arrears_warned_at = utcnow()
    db.session.commit()
    html = supply_block(page(client, acct, **EN))
    assert 'data-notice="warning"' in html and "the supply goes off at" in html and "unless you pay ¥5.01" in html


def test_no_notice_for_a_shop_in_credit(client, shop):
    html = supply_block(page(client, shop(), **EN))
    assert "data-notice" not in html and 'data-state="on"' in html


def test_the_meter_reading_and_live_power_are_shown(client, shop):
    html = page(client, shop(), **EN)
    assert 'data-testid="reading">Reading 1,234.56 kWh<' in html
    assert 'data-testid="power">Now 1.53 kW<' in html


def test_a_meter_mode_shop_shows_what_its_meters_hold(client, shop, make_meter):
    acct = shop(balance_fen=5_000)
    make_meter(account=acct, code="P301", control_mode=ControlMode.METER,
               state={"online": True, "supply_actual": Supply.ON, "remaining_fen": 4_000})
    html = page(client, acct, **EN)
    assert 'data-testid="balance">¥50.00<' in html
    assert "Held by the meter: ¥40.00 · the rest is being written to it" in html


def test_a_meter_coming_back_while_offline_is_not_polled_every_two_seconds(client, shop):
    acct = shop()
    acct.meter.state.supply_actual, acct.meter.state.online = Supply.OFF, False
    db.session.commit()
    html = page(client, acct, **EN)
    assert 'data-state="restoring"' in html and 'hx-trigger="every 30s, shop-changed from:body"' in html
