"""One role table drives access and navigation: every staff page, walked with every role on a populated site.

Each staff view names its area (portal.web.access.require_area); the table (portal.web.roles) says who may open
it. Here every GET route of the staff area is opened by every role: allowed → 200, others → 403; and, from the
dashboard, following only the links on the pages, each role reaches every page it may open.
"""
from __future__ import annotations

import re
import uuid
from collections import deque
from urllib.parse import urlsplit

import pytest
from flask import current_app, url_for
from werkzeug.exceptions import MethodNotAllowed, NotFound

from portal.counter import operations as ops
from portal.extensions import db
from portal.models import (
    Alarm,
    AlarmKind,
    AllocationGroup,
    AllocationMethod,
    ApiToken,
    Delivery,
    DeliveryStatus,
    NotifyRecipient,
    Role,
    SiteImport,
    Supply,
)
from portal.models.office import ImportStatus
from portal.staffing.tokens import create_token
from portal.web.roles import AREAS, may_change, may_open

#: the staff pages open to every staff role: the dashboard (the area's home)
OPEN_TO_ALL = {"staff.index"}
#: old addresses that only forward to the page that replaced them (no link leads to them any more)
MOVED = {"staff.billing_report"}


def get_endpoints(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("staff.") and "GET" in rule.methods}


def area_of(app, endpoint: str) -> str | None:
    return getattr(app.view_functions[endpoint], "staff_area", None)


def allowed(app, role: Role, endpoint: str) -> bool:
    """What the table says: the role opens the view's area (and changes things, for a step of a change)."""
    if endpoint in OPEN_TO_ALL:
        return True
    view = app.view_functions[endpoint]
    return may_open(role, view.staff_area) and (not view.staff_to_change or may_change(role))


@pytest.fixture
def world(make_site, make_account, make_meter, make_staff):
    """A site with a shop, its meters, a receipt, an alarm, an allocation group, another user, a token, an
    import, a staff recipient and a failed message."""
    site = make_site("walk", name="Walk Mall")
    shop = make_account(site=site, code="A101", name="Bakery", balance_fen=10_000)
    meter = make_meter(account=shop, code="E101", state={"online": True, "supply_actual": Supply.ON})
    common = make_meter(gateway=meter.gateway, code="C1")
    entry, _ = ops.counter_recharge(db.session, shop, 1_000, "cash", "", "staff:walk", uuid.uuid4().hex)
    db.session.add(Alarm(site_id=site.id, kind=AlarmKind.METER_OFFLINE, subject=f"meter:{meter.id}",
                         meter_id=meter.id, account_id=shop.id, message="offline", data={"what": "offline"}))
    group = AllocationGroup(site_id=site.id, code="G1", name="Corridor", method=AllocationMethod.AREA)
    group.sources = [common]
    db.session.add(group)
    other = make_staff(role=Role.OPERATOR, sites=[site], username="other-user")
    create_token(other)
    upload = SiteImport(site_code=site.code, filename="walk.xlsx", content=b"", sha256="0" * 64,
                        status=ImportStatus.INVALID, errors=[{"sheet": "meters", "row": 2, "column": "unit_id",
                                                              "message": "is required"}])
    db.session.add(upload)
    recipient = NotifyRecipient(site_id=site.id, name="Duty desk", phone="13900000001")
    delivery = Delivery(site_id=site.id, account_id=shop.id, event="low_balance_1", audience="tenant",
                        dedupe_key="walk", recipient="13900000002", channel="aliyun", text="balance low",
                        status=DeliveryStatus.FAILED, attempts=3, error="isv.BUSINESS_LIMIT_CONTROL")
    db.session.add_all([recipient, delivery])
    db.session.commit()
    token = db.session.query(ApiToken).one()
    return dict(site=site, shop=shop, meter=meter, entry=entry, group=group, other=other, token=token,
                upload=upload, recipient=recipient, delivery=delivery)


def url_of(endpoint: str, w: dict) -> str:
    """The page of an endpoint for the world's rows (a new GET route of the staff area is added here)."""
    args = {
        "staff.billing_group": {"group_id": w["group"].id},
        "staff.billing_group_shops": {"group_id": w["group"].id},
        "staff.billing_run_preview": {"site_id": w["site"].id, "which": "allocation"},
        "staff.confirm_revoke": {"token_id": w["token"].id},
        "staff.counter_account": {"account_id": w["shop"].id},
        "staff.counter_receipt": {"entry_id": w["entry"].id},
        "staff.site_rules": {"site_id": w["site"].id},
        "staff.site_tariffs": {"site_id": w["site"].id},
        "staff.user_page": {"user_id": w["other"].id},
        "staff.meter_page": {"code": w["meter"].code},
        "staff.report_xlsx": {"name": "energy"},
        "staff.account_page": {"code": w["shop"].code},
        "staff.import_page": {"import_id": w["upload"].id},
        "staff.import_export": {"site": w["site"].code},
        "staff.report_shop": {"code": w["shop"].code},
        "staff.confirm_send_again": {"delivery_id": w["delivery"].id},
        "staff.notify_recipient": {"recipient_id": w["recipient"].id},
    }.get(endpoint, {})
    with current_app.test_request_context():
        return url_for(endpoint, **args)


def test_every_staff_view_names_an_area_of_the_table(app):
    unnamed = {e for e in get_endpoints(app) if area_of(app, e) is None} - OPEN_TO_ALL
    assert unnamed == set()
    assert {area_of(app, e) for e in get_endpoints(app) - OPEN_TO_ALL} <= set(AREAS)


@pytest.mark.parametrize("role", list(Role))
def test_every_staff_page_opens_for_the_roles_the_table_allows_and_no_other(app, client, login, make_staff, world,
                                                                              role):
    login.staff(make_staff(role=role, sites=[] if role == Role.ADMIN else [world["site"]]))
    got, expected = {}, {}
    for endpoint in sorted(get_endpoints(app)):
        expected[endpoint] = 200 if allowed(app, role, endpoint) else 403
        # a page may send a person of one site on to that site's page (the tariffs, the rules)
        got[endpoint] = client.get(url_of(endpoint, world), follow_redirects=True).status_code
    assert got == expected


def page_links(html: str) -> set[str]:
    """The staff-area links of a page (href only: what a person can follow without typing)."""
    return {href.replace("&amp;", "&") for href in re.findall(r'href="(/staff/[^"#]*)', html)}


def endpoint_of(app, path: str) -> str | None:
    try:
        endpoint, _args = app.url_map.bind("localhost").match(urlsplit(path).path, method="GET")
    except (NotFound, MethodNotAllowed):
        return None
    return endpoint


@pytest.mark.parametrize("role", list(Role))
def test_every_page_a_role_may_open_is_reached_from_the_dashboard_by_links(app, client, login, make_staff, world,
                                                                           role):
    login.staff(make_staff(role=role, sites=[] if role == Role.ADMIN else [world["site"]]))
    may = {e for e in get_endpoints(app) if allowed(app, role, e)}
    reached, queue = set(), deque(["/staff/"])
    while queue:
        path = queue.popleft()
        endpoint = endpoint_of(app, path)
        if endpoint is None or endpoint in reached:
            continue  # each page once, by the first link found to it
        res = client.get(path, follow_redirects=True)
        if res.status_code != 200:
            continue
        reached.update({endpoint, endpoint_of(app, res.request.path)})
        if res.mimetype == "text/html":  # a download (the import's workbooks) is reached, and links nowhere
            queue.extend(sorted(page_links(res.get_data(as_text=True))))
    assert may - reached - MOVED == set()

