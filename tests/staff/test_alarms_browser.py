"""In real Chromium, on a desk and on a phone: an operator filters the alarms and acknowledges one with a note."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.alarms import raise_alarm
from portal.extensions import db
from portal.models import Alarm, AlarmKind, Role
from tests.browser import browser_page, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width, height", [(1366, 900), (390, 844)])
def test_an_operator_filters_the_alarms_and_acknowledges_one_with_a_note(base_url, make_staff, make_site,
                                                                         make_account, make_meter, width, height):
    site = make_site()
    meter = make_meter(account=make_account(site=site, code="A7"), code="E7", state={"online": False})
    raise_alarm(db.session, AlarmKind.METER_OFFLINE, f"meter:{meter.id}", site.id, "offline", meter_id=meter.id,
                account_id=meter.account_id, gateway_id=meter.gateway_id,
                data={"what": "meter_offline", "meter": meter.code, "why": "timeout"})
    raise_alarm(db.session, AlarmKind.TAMPER, f"tamper:{meter.id}", site.id, "tamper", meter_id=meter.id,
                data={"what": "count_back", "meter": meter.code})
    db.session.commit()
    operator = make_staff(role=Role.OPERATOR, sites=[site])
    with browser_page(base_url, width=width, height=height, locale="zh-CN") as page:
        page.goto("/auth/staff/login")
        page.fill("input[name=username]", operator.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form:not(.inline) button[type=submit]")
        page.wait_for_url(re.compile(r"/staff/$"))
        page.goto("/staff/alarms")
        expect(page.locator("tr[data-alarm]")).to_have_count(2)

        page.select_option("select[name=kind]", "meter_offline")  # htmx swaps the table and keeps the URL
        expect(page.locator("tr[data-alarm]")).to_have_count(1)
        expect(page).to_have_url(re.compile(r"kind=meter_offline"))
        row = page.locator("tr[data-kind=meter_offline]")
        expect(row.get_by_role("link", name=re.compile("E7"))).to_be_visible()
        expect(row.get_by_test_id("alarm-text")).to_contain_text("E7")  # written from its data, in Chinese

        row.locator("input[name=note]").fill("网关断电，已通知电工")
        row.get_by_role("button", name="确认").click()
        expect(page.get_by_test_id("ack-note")).to_have_text("网关断电，已通知电工")
        expect(page.locator("tr[data-kind=meter_offline]")).to_contain_text(operator.username)
        screenshot(page, f"alarms-ack-{width}")

    db.session.expire_all()
    acked = db.session.query(Alarm).filter_by(kind=AlarmKind.METER_OFFLINE).one()
    assert (acked.acknowledged_by, acked.ack_note) == (operator.actor, "网关断电，已通知电工")
    assert db.session.query(Alarm).filter_by(kind=AlarmKind.TAMPER).one().acknowledged_by is None
