"""No input makes the API answer 500 (SPEC §4): bodies nested too deep, NUL characters, text longer than its column,
a reused Idempotency-Key with another body; and its errors keep their HTTP headers (405 names the allowed methods)."""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import Role
from portal.staffing.tokens import create_token


@pytest.fixture
def shop(make_site, make_account, make_meter):
    acct = make_account(site=make_site("mall"), code="A101", balance_fen=10_000)
    make_meter(account=acct, code="E101")
    return acct


@pytest.fixture
def call(client, make_staff, shop):
    """call(method, path, **kwargs) as a manager of the shop's site, with a bearer token."""
    token = create_token(make_staff(role=Role.MANAGER, sites=[shop.site]))
    db.session.commit()

    def send(method: str, path: str, headers: dict | None = None, **kwargs):
        return client.open(f"/api/v1{path}", method=method,
                           headers={"Authorization": f"Bearer {token}", **(headers or {})}, **kwargs)

    return send


def error_code(res) -> str:
    return res.get_json()["error"]["code"]


@pytest.mark.parametrize("path", ["/orders", "/accounts/A101/cash-recharges", "/meters/E101/commands"])
def test_a_deeply_nested_body_is_400(call, path):
    """The review sent 100,000 nested arrays: RecursionError in the JSON parser, a 500."""
    res = call("POST", path, data="[" * 100_000 + "]" * 100_000, content_type="application/json")
    assert res.status_code == 400 and error_code(res) == "invalid_request"


def test_fields_the_api_does_not_read_are_ignored_whatever_they_hold(call):
    body = {"action": "trip", "reason": "x", "extra": [[[[[[[[1]]]]]]]], "more\x00": "\x00"}
    assert call("POST", "/meters/E101/commands", json=body).status_code == 202


@pytest.mark.parametrize("path, body", [
    ("/orders", {"account": "A101\x00", "amount_fen": 1_000, "channel": "alipay_wap"}),
    ("/accounts/A101/cash-recharges", {"amount_fen": 1_000, "note": "cash\x00"}),
    ("/meters/E101/commands", {"action": "trip", "reason": "\x00"}),
])
def test_a_nul_character_in_a_body_is_400(call, path, body):
    res = call("POST", path, json=body)
    assert res.status_code == 400 and "NUL" in res.get_json()["error"]["message"]


@pytest.mark.parametrize("path", ["/accounts/A%00", "/meters/E%00", "/orders/%00", "/accounts/%00/cash-recharges"])
def test_a_nul_character_in_the_path_is_400(call, path):
    res = call("POST" if path.endswith("recharges") else "GET", path, json={"amount_fen": 1})
    assert res.status_code == 400 and error_code(res) == "bad_request"


def test_an_openid_longer_than_its_column_is_400(call):
    res = call("POST", "/orders", json={"account": "A101", "amount_fen": 1_000, "channel": "wechat_jsapi",
                                        "openid": "o" * 65})
    assert res.status_code == 400 and "openid" in res.get_json()["error"]["message"]


@pytest.mark.parametrize("field, value", [("openid", 7), ("return_url", ["x"]), ("return_url", "u" * 501)])
def test_optional_order_text_of_another_type_or_too_long_is_400(call, field, value):
    res = call("POST", "/orders", json={"account": "A101", "amount_fen": 1_000, "channel": "alipay_wap",
                                        field: value})
    assert res.status_code == 400 and field in res.get_json()["error"]["message"]


def test_a_command_reason_longer_than_documented_is_400(call):
    assert call("POST", "/meters/E101/commands", json={"action": "trip", "reason": "r" * 201}).status_code == 400


@pytest.mark.parametrize("key", ["k" * 101, "with space", "tab\there", "ключ", "", "   "])
def test_an_idempotency_key_that_is_not_short_printable_ascii_is_400(call, key):
    res = call("POST", "/accounts/A101/cash-recharges", json={"amount_fen": 100}, headers={"Idempotency-Key": key})
    assert res.status_code == 400 and "Idempotency-Key" in res.get_json()["error"]["message"]


def test_a_reused_idempotency_key_for_another_account_is_409(call, make_account, shop):
    make_account(site=shop.site, code="A102")
    first = call("POST", "/accounts/A101/cash-recharges", json={"amount_fen": 100}, headers={"Idempotency-Key": "k1"})
    other = call("POST", "/accounts/A102/cash-recharges", json={"amount_fen": 100}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201
    assert other.status_code == 409 and error_code(other) == "idempotency_key_reused"


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/orders", {"POST"}),
    ("PUT", "/accounts/A101", {"GET", "HEAD", "OPTIONS"}),
    ("PATCH", "/meters/E101/commands", {"POST"}),
])
def test_an_unknown_method_is_405_with_allow(call, method, path, allowed):
    res = call(method, path)
    assert res.status_code == 405 and error_code(res) == "method_not_allowed"
    assert res.is_json
    assert set(res.headers["Allow"].replace(" ", "").split(",")) >= allowed
