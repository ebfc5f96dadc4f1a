"""/staff/notifications/recipients: a site's staff recipients, kept by its managers (and admins), read by auditors;
every field checked with a clear error, every change audited, a recipient of another site out of reach."""
from __future__ import annotations

import re
from datetime import time

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, Delivery, NotifyRecipient, Role
from portal.notify.route import tell_staff

URL = "/staff/notifications/recipients"
EN = {"Accept-Language": "en"}
HTMX = {"HX-Request": "true"}
GOOD = {"name": "Wang (night desk)", "phone": "+86 139-0000-0001", "wechat_openid": "oAbCdEfGhIjKlMnOpQrStUvWxYz1",
        "events": ["meter_offline", "gateway_offline"], "duty_start": "20:00", "duty_end": "08:00"}


def recipients() -> list[NotifyRecipient]:
    db.session.expire_all()
    return list(db.session.scalars(select(NotifyRecipient).order_by(NotifyRecipient.id)))


def audits(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.fixture
def sites(make_site):
    return make_site("HERE", name="Riverside"), make_site("THERE", name="Hilltop")


@pytest.fixture
def manager(client, login, make_staff, sites):
    user = make_staff(role=Role.MANAGER, sites=[sites[0]])
    login.staff(user)
    return user


@pytest.fixture
def desk(sites):
    """A recipient of HERE who takes every event, always on duty."""
    recipient = NotifyRecipient(site_id=sites[0].id, name="Desk", phone="13700000007")
    db.session.add(recipient)
    db.session.commit()
    return recipient


def test_a_manager_adds_a_recipient_with_events_and_duty_hours(client, manager, sites):
    response = client.post(URL, data={"site": "HERE", **GOOD}, headers=EN)

    assert response.status_code == 200 and "Wang (night desk) will be told" in response.get_data(as_text=True)
    [r] = recipients()
    assert (r.site_id, r.name, r.phone, r.wechat_openid, r.events, r.duty_start, r.duty_end, r.active) == (
        sites[0].id, "Wang (night desk)", "13900000001", GOOD["wechat_openid"], ["meter_offline", "gateway_offline"],
        time(20), time(8), True)
    [entry] = audits("notify_recipient.created")
    assert (entry.actor, entry.target_id, entry.site_id) == (f"staff:{manager.username}", r.id, sites[0].id)
    assert entry.detail["phone"] == "13900000001" and entry.detail["duty_start"] == "20:00"


def test_no_events_ticked_and_no_duty_hours_mean_every_event_always(client, manager, sites):
    client.post(URL, data={"site": "HERE", "name": "Li", "phone": "13900000002"})
    [r] = recipients()
    assert (r.events, r.duty_start, r.duty_end, r.wechat_openid) == ([], None, None, None)
    html = client.get(URL, headers=EN).get_data(as_text=True)
    assert "every event" in html and "always" in html


@pytest.mark.parametrize("change, words", [
    ({"phone": "12345"}, "A mainland mobile number of 11 digits"),
    ({"phone": "23900000001"}, "A mainland mobile number of 11 digits"),
    ({"name": "  "}, "Name: This field is required."),
    ({"wechat_openid": "not an openid!"}, "An openid is 16 to 64 letters"),
    ({"events": ["low_balance_1"]}, "Choose events of the list."),
    ({"duty_end": ""}, "Give both duty times, or neither"),
    ({"duty_start": "08:00", "duty_end": "08:00"}, "start and end at the same time"),
    ({"duty_start": "25:00"}, "On duty from:"),
])
def test_bad_input_is_refused_with_a_clear_error(client, manager, sites, change, words):
    data = {"site": "HERE", **GOOD, **change}
    htmx = client.post(URL, data=data, headers={**EN, **HTMX})
    body = htmx.get_data(as_text=True)
    assert htmx.status_code == 200 and body.lstrip().startswith('<section id="notify-recipients"')
    assert words in re.search(r'data-testid="recipient-error">([^<]*)<', body).group(1)
    assert f'value="{GOOD["wechat_openid"]}"' in body or "wechat_openid" in change  # what was typed stays
    plain = client.post(URL, data=data, headers=EN)
    assert plain.status_code == 422 and words in plain.get_data(as_text=True)
    assert recipients() == []


def test_a_number_already_at_the_site_is_refused(client, manager, desk):
    response = client.post(URL, data={"site": "HERE", "name": "Twin", "phone": "137 0000 0007"}, headers=EN)
    assert response.status_code == 422
    assert "13700000007 is already the number of Desk at this site" in response.get_data(as_text=True)
    assert len(recipients()) == 1


def test_a_manager_changes_a_recipient_and_the_change_is_audited(client, manager, desk):
    page = client.get(f"{URL}/{desk.id}", headers=EN).get_data(as_text=True)
    assert 'value="13700000007"' in page

    response = client.post(f"{URL}/{desk.id}", data={"name": "Desk", "phone": "13700000008",
                                                    "events": ["tamper"]}, headers=EN)

    assert response.status_code == 200 and "Saved." in response.get_data(as_text=True)
    [r] = recipients()
    assert (r.phone, r.events) == ("13700000008", ["tamper"])
    [entry] = audits("notify_recipient.changed")
    assert entry.detail["changed"] == {"phone": ["13700000007", "13700000008"], "events": [[], ["tamper"]]}


def test_switched_off_a_recipient_is_told_nothing_and_on_again_is(client, manager, desk, sites):
    response = client.post(f"{URL}/{desk.id}/active", data={"active": "0"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{URL}?site=HERE")
    assert recipients()[0].active is False and len(audits("notify_recipient.deactivated")) == 1
    assert tell_staff(db.session, sites[0].id, "tamper", "alarm:1", {"site": "HERE"}) == 0

    client.post(f"{URL}/{desk.id}/active", data={"active": "1"})
    assert recipients()[0].active is True
    assert tell_staff(db.session, sites[0].id, "tamper", "alarm:2", {"site": "HERE"}) == 1
    assert db.session.scalar(select(Delivery.recipient)) == "13700000007"


def test_a_manager_of_another_site_cannot_reach_its_recipients(client, login, make_staff, sites, desk):
    login.staff(make_staff(role=Role.MANAGER, sites=[sites[1]]))
    assert client.get(f"{URL}/{desk.id}").status_code == 404
    assert client.post(f"{URL}/{desk.id}", data={"name": "Mine", "phone": "13900000003"}).status_code == 404
    assert client.post(f"{URL}/{desk.id}/active", data={"active": "0"}).status_code == 404
    assert client.post(URL, data={"site": "HERE", "name": "Spy", "phone": "13900000004"}).status_code == 404
    assert client.get(URL, query_string={"site": "HERE"}).status_code == 404
    assert "Desk" not in client.get(URL).get_data(as_text=True)
    assert [(r.name, r.phone, r.active) for r in recipients()] == [("Desk", "13700000007", True)]


def test_a_manager_of_two_sites_chooses_one(client, login, make_staff, sites, desk):
    other = NotifyRecipient(site_id=sites[1].id, name="Hill desk", phone="13700000009")
    db.session.add(other)
    db.session.commit()
    login.staff(make_staff(role=Role.MANAGER, sites=list(sites)))
    assert "Desk" in client.get(URL).get_data(as_text=True)  # the first site by code
    html = client.get(URL, query_string={"site": "THERE"}).get_data(as_text=True)
    assert "Hill desk" in html and f'data-recipient="{desk.id}"' not in html


def test_an_auditor_reads_the_list_masked_and_changes_nothing(client, login, make_staff, sites, desk):
    login.staff(make_staff(role=Role.AUDITOR, sites=[sites[0]]))
    html = client.get(URL, headers=EN).get_data(as_text=True)
    assert "Desk" in html and "137****0007" in html and "13700000007" not in html
    assert "New recipient" not in html and f"{URL}/{desk.id}" not in html
    assert client.get(f"{URL}/{desk.id}").status_code == 403
    assert client.post(f"{URL}/{desk.id}/active", data={"active": "0"}).status_code == 403
    assert recipients()[0].active is True


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.CASHIER])
def test_electricians_and_cashiers_do_not_see_the_recipients(client, login, make_staff, sites, desk, role):
    login.staff(make_staff(role=role, sites=[sites[0]]))
    assert client.get(URL).status_code == 403
    assert client.post(URL, data={"site": "HERE", "name": "X", "phone": "13900000005"}).status_code == 403
    assert len(recipients()) == 1


def test_adding_needs_the_pages_csrf_token(client, manager, csrf_on):
    assert client.post(URL, data={"site": "HERE", "name": "Li", "phone": "13900000002"}).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(URL).get_data(as_text=True)).group(1)
    data = {"site": "HERE", "name": "Li", "phone": "13900000002", "csrf_token": token}
    assert client.post(URL, data=data).status_code == 200
    assert [r.name for r in recipients()] == ["Li"]
