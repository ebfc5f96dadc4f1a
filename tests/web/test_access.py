"""The role table (portal.web.roles) and the site scope (portal.web.access): what each staff role may open."""
from __future__ import annotations

import re

import pytest

from portal.control.commands import ACTIONS
from portal.models import Role
from portal.web.roles import AREAS, COMMANDS, may_command, may_open, navigation

NAV = {"meters": "/staff/meters", "alarms": "/staff/alarms", "counter": "/staff/counter/",
       "approvals": "/staff/approvals", "invoices": "/staff/invoices", "monthly": "/staff/billing/",
       "reports": "/staff/reports",
       "tariffs": "/staff/tariffs", "rules": "/staff/rules", "import": "/staff/import", "users": "/staff/users",
       "api_tokens": "/staff/api-tokens", "audit": "/staff/audit", "notifications": "/staff/notifications"}


def nav_links(html: str) -> set[str]:
    """The area links of the staff bar."""
    bar = re.search(r'<header class="staff-bar">(.*?)</header>', html, re.DOTALL).group(1)
    return set(re.findall(r'href="(/staff/[^"]*)"', bar)) - {"/staff/"}


def test_every_meter_command_has_its_roles_in_the_table():
    assert set(COMMANDS) == set(ACTIONS)


def test_admins_pass_every_check():
    assert all(may_open(Role.ADMIN, area) for area in AREAS)
    assert all(may_command(Role.ADMIN, action) for action in ACTIONS)


def test_an_unknown_command_is_nobodys():
    assert not may_command(Role.ADMIN, "explode") and not may_command(Role.MANAGER, "explode")


@pytest.mark.parametrize("role, areas", [
    (Role.OPERATOR, {"meters", "alarms", "approvals", "notifications"}),
    (Role.CASHIER, {"meters", "alarms", "counter", "approvals", "invoices"}),
    (Role.MANAGER, {"meters", "alarms", "counter", "approvals", "monthly", "reports", "tariffs", "rules", "import",
                    "audit", "notifications", "invoices"}),
    (Role.ADMIN, {"meters", "alarms", "counter", "approvals", "monthly", "reports", "tariffs", "rules", "import",
                  "users", "api_tokens", "audit", "notifications", "invoices"}),
    (Role.AUDITOR, {"meters", "alarms", "counter", "approvals", "monthly", "reports", "tariffs", "rules", "import",
                    "users", "api_tokens", "audit", "notifications", "invoices"}),
])
def test_the_navigation_links_the_areas_the_role_may_open(client, login, make_staff, role, areas):
    login.staff(make_staff(role=role))

    html = client.get("/staff/").get_data(as_text=True)

    assert nav_links(html) == {NAV[a] for a in areas}
    assert [a.endpoint for a in navigation(role)] == [AREAS[a].endpoint for a in NAV if a in areas]


def test_every_area_in_the_navigation_opens_for_those_it_is_shown_to(client, login, make_staff, make_site):
    site = make_site()
    for role in Role:
        login.staff(make_staff(role=role, sites=[] if role == Role.ADMIN else [site]))
        for link in nav_links(client.get("/staff/").get_data(as_text=True)):
            assert client.get(link).status_code in (200, 302), (role, link)


def test_a_row_of_another_site_and_a_row_that_does_not_exist_get_the_same_404(client, login, make_staff,
                                                                            make_account):
    other = make_account(code="X1")
    login.staff(make_staff(role=Role.CASHIER))

    theirs = client.get(f"/staff/counter/a/{other.id}")
    missing = client.get(f"/staff/counter/a/{other.id + 1000}")

    assert theirs.status_code == missing.status_code == 404
    # the same page but for the address it was asked at (the language link leads back to it)
    # (and for the CSRF token, which carries the second it was signed in: two requests may straddle one)
    # (every place a token is: the meta tag htmx reads, and the hidden field of each form, e.g. logout's)
    token = re.compile(r'(<meta name="csrf-token" content="|name="csrf_token" value=")[^"]*"')
    assert (token.sub("", theirs.get_data(as_text=True)).replace(f"/a/{other.id}", "/a/ID")
            == token.sub("", missing.get_data(as_text=True)).replace(f"/a/{other.id + 1000}", "/a/ID"))


def test_a_meter_command_the_meter_cannot_do_is_shown_in_its_row(client, login, make_staff, make_meter):
    meter = make_meter(code="C1", profile="chint-dtsu666")  # a common-area meter without relay
    login.staff(make_staff(role=Role.OPERATOR, sites=[meter.gateway.site]))

    data = {"action": "trip", "reason": "repair"}
    htmx = client.post(f"/staff/meters/{meter.id}/command", data=data, headers={"HX-Request": "true"})
    plain = client.post(f"/staff/meters/{meter.id}/command", data=data)

    html = htmx.get_data(as_text=True)
    assert htmx.status_code == 200 and html.lstrip().startswith(f'<tr id="meter-{meter.id}"')
    assert 'role="alert"' in html and "no relay" in html
    assert plain.status_code == 422


def test_a_meter_of_another_site_cannot_be_commanded(client, login, make_staff, make_meter):
    meter = make_meter(code="E9")
    login.staff(make_staff(role=Role.MANAGER))  # of a site of their own

    assert client.post(f"/staff/meters/{meter.id}/command", data={"action": "trip"}).status_code == 404


# --- the auditor reads everything and changes nothing --------------------------------------------------------

def _made_up(part: re.Match) -> str:
    converter, options = part.group(1), part.group(2)
    if converter == "any":
        return options.split(",")[0].strip().strip("'\"")
    return "1" if converter == "int" else "X1"


def staff_rules(app, method: str) -> list[str]:
    """Every staff route taking `method`, with made-up ids in it."""
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("staff.") and method in rule.methods:
            paths.append(re.sub(r"<(?:(\w+)(?:\(([^)]*)\))?:)?\w+>", _made_up, rule.rule))
    return sorted(paths)


def test_an_auditor_is_refused_every_change_in_the_staff_area(app, client, login, make_staff, make_site):
    login.staff(make_staff(role=Role.AUDITOR, sites=[make_site()]))
    posts = staff_rules(app, "POST")
    assert len(posts) >= 10
    refused = {path: client.post(path, data={"reason": "x", "amount": "100"}).status_code for path in posts}
    assert set(refused.values()) == {403}, refused


def test_an_auditor_opens_every_page_of_the_navigation(client, login, make_staff, make_site):
    login.staff(make_staff(role=Role.AUDITOR, sites=[make_site()]))
    links = nav_links(client.get("/staff/").get_data(as_text=True))
    assert links == set(NAV.values())
    opened = {link: client.get(link, follow_redirects=True).status_code for link in links}
    assert opened == dict.fromkeys(links, 200)


def test_an_auditors_token_reads_and_changes_nothing(client, make_staff, make_account):
    from portal.extensions import db
    from portal.staffing.tokens import create_token

    auditor = make_staff(role=Role.AUDITOR)
    shop = make_account(site=auditor.sites[0], code="SHOP1")
    token = create_token(auditor)
    db.session.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/accounts/{shop.code}", headers=bearer).status_code == 200
    posted = client.post(f"/api/v1/accounts/{shop.code}/cash-recharges", headers=bearer, json={"amount_fen": 100})
    assert posted.status_code == 403 and posted.get_json()["error"]["code"] == "forbidden"
    db.session.refresh(shop)
    assert shop.balance_fen == 0
