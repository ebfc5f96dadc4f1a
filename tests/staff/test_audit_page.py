"""The audit log page, /staff/audit: who sees which entries, each filter, refusals, before/after, paging."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from portal.audit import audit
from portal.extensions import db
from portal.models import AuditEntry, Role

URL = "/staff/audit"
EN = {"Accept-Language": "en"}


@pytest.fixture
def two_sites(make_site, make_account, make_meter):
    """Two sites, each with a shop and its meter, and one entry on each plus one of no site."""
    here, there = make_site("HERE"), make_site("THERE")
    shop = make_account(site=here, code="S001")
    meter = make_meter(account=shop, code="M001")
    other = make_account(site=there, code="S900")
    audit(db.session, "staff:carol", "counter.recharge", "ledger_entry", None, here.id, account="S001",
          amount_fen=5000)
    audit(db.session, "staff:zed", "meter.trip", "meter", 9999, there.id, reason="far away")
    audit(db.session, "staff:root", "user.created", "staff_user", 7, None, username="newbie")
    db.session.commit()
    return here, there, shop, meter, other


def actions_on(html: str) -> list[str]:
    """The action codes of the table's rows, top to bottom."""
    return re.findall(r'data-action="([^"]+)"', html)


def page(client, headers=EN, **args) -> str:
    response = client.get(URL, query_string=args, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_a_manager_sees_the_entries_of_their_sites_only(client, login, make_staff, two_sites):
    here, *_ = two_sites
    login.staff(make_staff(role=Role.MANAGER, sites=[here]))

    assert actions_on(page(client)) == ["counter.recharge"]


def test_a_manager_of_another_site_sees_none_of_it(client, login, make_staff, make_site, two_sites):
    login.staff(make_staff(role=Role.MANAGER, sites=[make_site("ELSEWHERE")]))

    assert actions_on(page(client)) == []


def test_an_auditor_reads_their_sites_and_the_acts_of_no_site(client, login, make_staff, two_sites):
    here, *_ = two_sites
    login.staff(make_staff(role=Role.AUDITOR, sites=[here]))

    assert actions_on(page(client)) == ["user.created", "counter.recharge"]


def test_an_admin_sees_every_entry_newest_first(client, login, make_staff, two_sites):
    login.staff(make_staff(role=Role.ADMIN))

    assert actions_on(page(client)) == ["user.created", "meter.trip", "counter.recharge"]


@pytest.mark.parametrize("role", [Role.CASHIER, Role.OPERATOR])
def test_cashiers_and_operators_may_not_open_it(client, login, make_staff, two_sites, role):
    here, *_ = two_sites
    login.staff(make_staff(role=role, sites=[here]))

    assert client.get(URL).status_code == 403
    assert 'href="/staff/audit"' not in client.get("/staff/").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.AUDITOR, Role.ADMIN])
def test_it_is_in_the_navigation_of_those_who_may_open_it(client, login, make_staff, two_sites, role):
    here, *_ = two_sites
    login.staff(make_staff(role=role, sites=[here] if role != Role.ADMIN else []))

    assert 'href="/staff/audit"' in client.get("/staff/").get_data(as_text=True)


def test_a_visitor_who_is_not_signed_in_is_sent_to_log_in(client):
    assert client.get(URL).status_code in (302, 401)


# -- the filters ---------------------------------------------------------------------------------------------


@pytest.fixture
def admin(client, login, make_staff):
    user = make_staff(username="boss", role=Role.ADMIN)
    login.staff(user)
    return user


def test_filter_by_who_takes_a_user_name_or_an_actor(client, admin, two_sites):
    audit(db.session, "api:carol", "meter.close", "meter", 1, two_sites[0].id)
    db.session.commit()

    assert actions_on(page(client, who="carol")) == ["meter.close", "counter.recharge"]
    assert actions_on(page(client, who="api:carol")) == ["meter.close"]
    assert actions_on(page(client, who="nobody")) == []


def test_filter_by_action(client, admin, two_sites):
    assert actions_on(page(client, action="meter.trip")) == ["meter.trip"]


def test_filter_by_a_shop_or_meter_code_or_a_kind_and_id(client, admin, two_sites):
    here, _, shop, meter, _ = two_sites
    audit(db.session, "staff:carol", "meter.close", "meter", meter.id, here.id)
    audit(db.session, "system:balance", "account.arrears_warned", "account", shop.id, here.id)
    db.session.commit()

    assert actions_on(page(client, target="M001")) == ["meter.close"]
    assert actions_on(page(client, target="S001")) == ["account.arrears_warned"]
    assert actions_on(page(client, target="meter:9999")) == ["meter.trip"]
    assert actions_on(page(client, target="ledger_entry")) == ["counter.recharge"]


def test_filter_by_site(client, admin, two_sites):
    assert actions_on(page(client, site="THERE")) == ["meter.trip"]


def test_filter_by_days_in_business_time(client, admin, two_sites):
    here, *_ = two_sites
    # 2025-03-31 23:30 in Shanghai is 15:30 UTC; 2025-04-01 00:30 there is 16:30 UTC
    for action, at in (("site.calendar_day_set", datetime(2025, 3, 31, 15, 30, tzinfo=UTC)),
                       ("site.calendar_day_removed", datetime(2025, 3, 31, 16, 30, tzinfo=UTC))):
        audit(db.session, "staff:carol", action, "site", here.id, here.id).at = at
    db.session.commit()

    assert actions_on(page(client, **{"from": "2025-04-01", "to": "2025-04-01"})) == ["site.calendar_day_removed"]
    assert actions_on(page(client, **{"from": "2025-03-31", "to": "2025-03-31"})) == ["site.calendar_day_set"]
    assert actions_on(page(client, to="2025-04-30")) == ["site.calendar_day_removed", "site.calendar_day_set"]


def test_free_text_searches_actor_action_and_detail(client, admin, two_sites):
    assert actions_on(page(client, q="far AWAY")) == ["meter.trip"]
    assert actions_on(page(client, q="newbie")) == ["user.created"]
    assert actions_on(page(client, q="ZED")) == ["meter.trip"]
    assert actions_on(page(client, q="recharge")) == ["counter.recharge"]
    assert actions_on(page(client, q="%")) == []  # a wildcard is a character like any other


def test_filters_combine_and_the_links_keep_them(client, admin, two_sites):
    for n in range(55):
        audit(db.session, "staff:carol", "meter.trip", "meter", n + 1, two_sites[0].id, n=n)
    db.session.commit()

    first = page(client, who="carol", action="meter.trip")
    assert len(actions_on(first)) == 50
    older = re.search(r'data-testid="audit-older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "who=carol" in older and "action=meter.trip" in older
    second = client.get(older, headers=EN).get_data(as_text=True)
    assert actions_on(second) == ["meter.trip"] * 5
    assert "audit-older" not in second
    assert 'data-entry' in second and set(re.findall(r'data-entry="(\d+)"', first)).isdisjoint(
        re.findall(r'data-entry="(\d+)"', second))


# -- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    ({"from": "2025-13-40"}, "YYYY-MM-DD"),
    ({"to": "yesterday"}, "YYYY-MM-DD"),
    ({"from": "1900-01-01"}, "between 2000-01-01 and 2099-12-31"),
    ({"from": "2025-05-02", "to": "2025-05-01"}, "is after the last"),
    ({"before": "abc"}, "start again"),
    ({"before": "99999999999"}, "start again"),
    ({"before": "9" * 30}, "start again"),
    ({"target": "meter:twelve"}, "kind and an id"),
    ({"target": "NOPE"}, "No shop or meter of yours has the code NOPE"),
    ({"target": "S900"}, "No shop or meter of yours"),  # another site's shop: as if it did not exist
    ({"site": "THERE"}, "no site THERE among yours"),
    ({"action": "DROP TABLE"}, "pick one from the list"),
    ({"q": "x" * 101}, "at most 100 characters"),
    ({"who": "a\x00b"}, "NUL characters"),  # refused before the view, by portal.web.params
    ({"q": "x", "from": "2025-01-01"}, "at most 7 days"),
])
def test_a_filter_that_makes_no_sense_is_a_400_saying_why(client, login, make_staff, two_sites, args, words):
    here, *_ = two_sites
    login.staff(make_staff(role=Role.MANAGER, sites=[here]))

    response = client.get(URL, query_string=args, headers=EN)

    assert response.status_code == 400
    assert words in response.get_data(as_text=True).replace("&#39;", "'")


def test_htmx_gets_the_refusal_in_the_table_so_it_is_shown(client, admin, two_sites):
    response = client.get(URL, query_string={"from": "2025-02-30"}, headers={**EN, "HX-Request": "true"})

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="audit-table"')
    assert 'data-testid="audit-error"' in html and "YYYY-MM-DD" in html


def test_htmx_gets_the_table_alone_and_a_page_load_the_whole_page(client, admin, two_sites):
    partial = client.get(URL, query_string={"action": "meter.trip"}, headers={**EN, "HX-Request": "true"})
    whole = client.get(URL, query_string={"action": "meter.trip"}, headers=EN)

    assert partial.get_data(as_text=True).lstrip().startswith('<section id="audit-table"')
    assert 'id="audit-filters"' in whole.get_data(as_text=True)
    assert "HX-Request" in partial.headers["Vary"] and "HX-Request" in whole.headers["Vary"]
    assert 'option value="meter.trip" selected' in whole.get_data(as_text=True)


# -- what a row shows ----------------------------------------------------------------------------------------


def test_a_row_shows_when_who_what_the_target_before_after_and_the_address(client, admin, two_sites):
    here, _, _, meter, _ = two_sites
    entry = audit(db.session, "staff:carol", "site.counter_limit", "site", here.id, here.id,
                  changed={"counter_limit_fen": [None, 200000]})
    entry.at, entry.ip = datetime(2025, 6, 1, 2, 3, 4, tzinfo=UTC), "203.0.113.9"
    audit(db.session, "staff:carol", "meter.tariff.assign", "meter", meter.id, here.id, old_tariff_id=3, tariff_id=4)
    db.session.commit()

    html = page(client, who="carol", target="site")
    row = re.search(rf'<tr data-entry="{entry.id}".*?</tr>', html, re.S).group(0)
    assert "2025-06-01 10:03:04" in row  # Shanghai time
    assert "staff:carol" in row and "Counter approval limit changed" in row and "203.0.113.9" in row
    assert re.search(r"counter_limit_fen</span> <del>—</del> → <ins>200000</ins>", row)
    tariff = page(client, target="M001")
    assert re.search(r"tariff_id</span> <del>3</del> → <ins>4</ins>", tariff)
    assert f'href="/staff/meters/M001?site={here.code}"' in tariff  # the meter's own page


def test_a_counter_operation_links_to_its_shop(client, admin, two_sites, make_account):
    here, _, shop, _, _ = two_sites
    from portal.ledger.entries import post_entry
    from portal.models import EntryKind

    posted = post_entry(db.session, shop, 5000, EntryKind.CASH, "test:cash:1")
    audit(db.session, "staff:carol", "counter.recharge", "ledger_entry", posted.entry.id, here.id, account="S001")
    db.session.commit()

    html = page(client, q="S001")
    assert f'href="/staff/counter/a/{shop.id}">S001</a>' in html


def test_actions_are_shown_in_chinese_by_default_and_unknown_ones_as_their_code(client, admin, two_sites):
    html = page(client, headers={})

    assert "柜台充值" in html  # counter.recharge
    assert "user.created" in html


def test_a_long_detail_value_is_cut_on_the_page(client, admin, two_sites):
    audit(db.session, "tenant:1", "order.pay_started", "payment_order", 1, two_sites[0].id, qr_svg="<svg>" + "x" * 5000)
    db.session.commit()

    html = page(client, action="order.pay_started")
    assert "x" * 200 not in html and "…" in html and "&lt;svg&gt;" in html


def test_the_page_only_reads(client, login, make_staff, two_sites):
    login.staff(make_staff(role=Role.AUDITOR, sites=[two_sites[0]]))

    assert client.post(URL).status_code in (403, 405)
    assert db.session.query(AuditEntry).count() == 3


def test_a_text_search_alone_looks_at_the_last_week_and_says_so(client, admin, two_sites):
    old = audit(db.session, "staff:carol", "meter.trip", "meter", 1, two_sites[0].id, reason="far away")
    old.at = datetime(2024, 1, 1, tzinfo=UTC)
    db.session.commit()

    html = page(client, q="far away")
    assert actions_on(html) == ["meter.trip"] and f'data-entry="{old.id}"' not in html
    assert 'data-testid="audit-text-window"' in html
    assert f'data-entry="{old.id}"' in page(client, q="far away", **{"from": "2023-12-31", "to": "2024-01-02"})
    assert f'data-entry="{old.id}"' in page(client, q="far away", who="carol")  # narrowed: no window


def test_a_text_search_alone_over_more_than_a_week_is_refused(client, admin, two_sites):
    response = client.get(URL, query_string={"q": "far", "from": "2025-01-01", "to": "2025-01-08"}, headers=EN)

    assert response.status_code == 400 and "at most 7 days" in response.get_data(as_text=True)
