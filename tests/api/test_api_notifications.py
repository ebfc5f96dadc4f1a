"""GET /api/v1/notifications?account=CODE (SPEC §4): a shop's delivery log, newest first, for the roles and sites
of the staff log."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.api.openapi import build_spec
from portal.models import DeliveryStatus, Role
from tests.api.test_api import api, token_for

KEYS = {"event", "channel", "recipient", "status", "attempts", "created_at", "sent_at"}
AT = datetime(2026, 3, 1, 4, 5, 6, tzinfo=UTC)


@pytest.fixture
def mall(make_site, make_account, make_delivery, make_staff, token_for):
    """Shop A1 with three messages (one about it to staff), shop Z9 of another site with one; a manager's token."""
    site, other = make_site("mall"), make_site("other")
    shop, far = make_account(site=site, code="A1"), make_account(site=other, code="Z9")
    make_delivery(shop, created_at=AT, sent_at=AT + timedelta(seconds=2), attempts=1)
    make_delivery(shop, event="supply_off", status=DeliveryStatus.FAILED, channel="modem", attempts=5,
                  created_at=AT + timedelta(hours=1))
    make_delivery(shop, event="meter_offline", status=DeliveryStatus.PENDING, channel="wechat",
                  recipient="oAbCdEfGhIjKlMnOpQrStUvWxYz1", created_at=AT + timedelta(hours=2))
    make_delivery(far, created_at=AT)
    return site, token_for(make_staff(role=Role.MANAGER, sites=[site]))


def test_a_shops_log_newest_first_in_the_documented_shape(api, mall):
    _, token = mall
    r = api("/notifications?account=A1", token)
    assert r.status_code == 200
    assert r.json == [
        {"event": "meter_offline", "channel": "wechat", "recipient": "oAbCdEfGhIjKlMnOpQrStUvWxYz1",
         "status": "pending", "attempts": 0, "created_at": "2026-03-01T06:05:06Z", "sent_at": None},
        {"event": "supply_off", "channel": "modem", "recipient": "13900000001", "status": "failed", "attempts": 5,
         "created_at": "2026-03-01T05:05:06Z", "sent_at": None},
        {"event": "low_balance_1", "channel": "aliyun", "recipient": "13900000001", "status": "sent",
         "attempts": 1, "created_at": "2026-03-01T04:05:06Z", "sent_at": "2026-03-01T04:05:08Z"},
    ]


def test_limit_takes_the_newest(api, mall):
    _, token = mall
    r = api("/notifications?account=A1&limit=1", token)
    assert [d["event"] for d in r.json] == ["meter_offline"] and set(r.json[0]) == KEYS


@pytest.mark.parametrize("query, status, words", [
    ("", 400, "?account=CODE"),
    ("account=", 400, "?account=CODE"),
    ("account=A1&limit=0", 400, "limit must be a whole number from 1 to 500"),
    ("account=A1&limit=501", 400, "limit must be"),
    ("account=A1&limit=ten", 400, "limit must be"),
    ("account=A1&limit=%EF%BC%93", 400, "limit must be"),  # a full-width digit is no limit
    ("account=NOPE", 404, "no account 'NOPE' in your sites"),
    ("account=Z9", 404, "in your sites"),
])
def test_a_bad_call_is_a_json_error(api, mall, query, status, words):
    _, token = mall
    r = api(f"/notifications?{query}", token)
    assert r.status_code == status and words in r.json["error"]["message"]


def test_only_with_a_token_and_not_for_a_cashier(api, mall, make_staff, token_for):
    site, _ = mall
    assert api("/notifications?account=A1").status_code == 401
    cashier = token_for(make_staff(role=Role.CASHIER, sites=[site]))
    r = api("/notifications?account=A1", cashier)
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.AUDITOR])
def test_those_who_do_not_keep_recipients_read_addresses_masked(api, mall, make_staff, token_for, role):
    site, _ = mall
    r = api("/notifications?account=A1", token_for(make_staff(role=role, sites=[site])))
    assert [d["recipient"] for d in r.json] == ["oAbC…xYz1", "139****0001", "139****0001"]


def test_an_admin_reads_any_site(api, mall, make_staff, token_for):
    r = api("/notifications?account=Z9", token_for(make_staff(role=Role.ADMIN)))
    assert r.status_code == 200 and len(r.json) == 1


def test_the_openapi_document_describes_it(app):
    with app.test_request_context():
        spec = build_spec()
    op = spec["paths"]["/notifications"]["get"]
    assert op["operationId"] == "getNotifications"
    assert {p["name"]: p["required"] for p in op["parameters"]} == {"account": True, "limit": False}
    assert {"200", "400", "401", "403", "404"} <= set(op["responses"])
    items = spec["components"]["schemas"]["Deliveries"]["items"]
    assert set(items["required"]) == KEYS
