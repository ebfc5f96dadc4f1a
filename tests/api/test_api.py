"""JSON API /api/v1 (SPEC §4): bearer tokens of staff users, exact shapes, integers for money."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from portal.api.resources import meter_json
from portal.extensions import db
from portal.models import ApiToken, ControlMode, Meter, MeterKind, Role, Supply
from portal.staffing.tokens import create_token

ACCOUNT_KEYS = {"code", "name", "balance_fen", "status", "meters"}
METER_KEYS = {
    "code",
    "kind",
    "control_mode",
    "online",
    "supply_actual",
    "supply_desired",
    "keep_power",
    "energy_total",
    "power_w",
    "remaining_fen",
    "purchase_count",
    "last_seen",
}
SEEN = datetime(2026, 3, 1, 4, 5, 6, tzinfo=UTC)


@pytest.fixture
def token_for():
    """token_for(user) creates an API token for a staff user and returns it in clear."""

    def make(user) -> str:
        token = create_token(user)
        db.session.commit()
        return token

    return make


@pytest.fixture
def api(client):
    """api(path, token) GETs an /api/v1 path with a bearer token."""

    def get(path: str, token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.get(f"/api/v1{path}", headers=headers)

    return get


@pytest.fixture
def shop(make_site, make_account, make_meter):
    """A site with a shop of 12345 fen and two meters: one read (meter mode), one never read."""
    site = make_site("mall")
    acct = make_account(site=site, code="A101", balance_fen=12_345, name="Shop 101")
    make_meter(
        account=acct,
        code="E101",
        control_mode=ControlMode.METER,
        state={
            "online": True,
            "supply_actual": Supply.ON,
            "energy_total": 123_456,
            "power_w": 1_520,
            "remaining_fen": 8_800,
            "purchase_count": 3,
            "last_seen_at": SEEN,
        },
    )
    make_meter(account=acct, code="E102")
    return acct


def floats_in(value, path="$") -> list[str]:
    """Every place in a JSON document that holds a float."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in floats_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in floats_in(v, f"{path}[{i}]")]
    return []


# --- tokens ---------------------------------------------------------------------------------------


def test_cli_creates_a_token_and_prints_it(runner, make_staff, api, shop):
    user = make_staff(role=Role.OPERATOR, sites=[shop.site])
    result = runner.invoke(args=["api-token", "create", user.username])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("pf_") and len(token) > 40
    assert api("/accounts/A101", token).status_code == 200


def test_cli_refuses_an_unknown_user(runner):
    result = runner.invoke(args=["api-token", "create", "nobody"])
    assert result.exit_code != 0
    assert "no staff user 'nobody'" in result.output


def test_token_is_stored_only_hashed(make_staff, token_for):
    token = token_for(make_staff())
    row = db.session.scalars(select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    dump = db.session.execute(text("SELECT * FROM api_tokens")).all()
    assert not any(token in str(v) for r in dump for v in r)


def test_a_used_token_records_its_last_use(make_staff, token_for, api, shop):
    token = token_for(make_staff(role=Role.ADMIN))
    api("/accounts/A101", token)
    db.session.expire_all()
    assert db.session.scalars(select(ApiToken)).one().last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(make_staff, token_for, api, shop):
    from datetime import timedelta

    token = token_for(make_staff(role=Role.ADMIN))
    api("/accounts/A101", token)
    db.session.expire_all()
    row = db.session.scalars(select(ApiToken)).one()
    first = row.last_used_at
    api("/accounts/A101", token)  # within the minute: no write
    db.session.expire_all()
    assert row.last_used_at == first
    row.last_used_at = first - timedelta(minutes=2)
    db.session.commit()
    api("/accounts/A101", token)
    db.session.expire_all()
    assert row.last_used_at > first


# --- shapes ---------------------------------------------------------------------------------------


def test_account_has_exactly_the_spec_shape(make_staff, token_for, api, shop):
    res = api("/accounts/A101", token_for(make_staff(role=Role.ADMIN)))
    assert res.status_code == 200
    assert res.json == {
        "code": "A101",
        "name": "Shop 101",
        "balance_fen": 12_345,
        "status": "active",
        "meters": ["E101", "E102"],
    }


def test_meter_has_exactly_the_spec_shape(make_staff, token_for, api, shop):
    res = api("/meters/E101", token_for(make_staff(role=Role.ADMIN)))
    assert res.status_code == 200
    assert res.json == {
        "code": "E101",
        "kind": "electric",
        "control_mode": "meter",
        "online": True,
        "supply_actual": "on",
        "supply_desired": "on",
        "keep_power": False,
        "energy_total": "1234.56",
        "power_w": 1_520,
        "remaining_fen": 8_800,
        "purchase_count": 3,
        "last_seen": "2026-03-01T04:05:06Z",
    }


def test_a_meter_never_read_has_null_readings_and_is_offline(make_staff, token_for, api, shop):
    body = api("/meters/E102", token_for(make_staff(role=Role.ADMIN))).json
    assert set(body) == METER_KEYS
    assert body["online"] is False
    assert body["supply_actual"] is None
    assert body["supply_desired"] == "on"
    assert body["energy_total"] is None and body["last_seen"] is None


def test_platform_mode_meter_has_null_remaining_and_purchase_count(
    make_staff, token_for, api, make_meter, shop
):
    make_meter(
        account=shop,
        code="E103",
        control_mode=ControlMode.PLATFORM,
        state={
            "online": True,
            "supply_actual": Supply.OFF,
            "energy_total": 5,
            "power_w": 0,
            "remaining_fen": 100,
            "purchase_count": 1,
            "last_seen_at": SEEN,
        },
    )
    body = api("/meters/E103", token_for(make_staff(role=Role.ADMIN))).json
    assert (body["remaining_fen"], body["purchase_count"]) == (None, None)
    assert (body["supply_actual"], body["energy_total"]) == ("off", "0.05")


def test_water_meter_energy_is_cubic_metres_from_litres(
    make_staff, token_for, api, make_meter, shop
):
    make_meter(
        account=shop,
        code="W101",
        kind=MeterKind.WATER,
        profile="payfirst-water-v1",
        state={"online": True, "energy_total": 12_345},
    )
    assert (
        api("/meters/W101", token_for(make_staff(role=Role.ADMIN))).json["energy_total"] == "12.345"
    )


@pytest.mark.parametrize("path", ["/accounts/A101", "/meters/E101", "/meters/E102"])
def test_no_json_float_anywhere(make_staff, token_for, api, shop, path):
    body = api(path, token_for(make_staff(role=Role.ADMIN))).json
    assert body and floats_in(body) == []


def test_last_seen_is_utc_even_when_the_database_speaks_another_time_zone(make_meter, shop):
    db.session.execute(text("SET LOCAL TIME ZONE 'Asia/Shanghai'"))
    meter = db.session.scalars(select(Meter).where(Meter.code == "E101")).one()
    db.session.refresh(meter.state)
    assert meter_json(meter)["last_seen"] == "2026-03-01T04:05:06Z"


# --- who may see what -----------------------------------------------------------------------------


def test_missing_token_is_401_json(api, shop):
    res = api("/accounts/A101")
    assert res.status_code == 401
    assert res.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "header", ["Bearer pf_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer ", "pf_abc"]
)
def test_bad_token_is_401_json(client, shop, header):
    res = client.get("/api/v1/accounts/A101", headers={"Authorization": header})
    assert res.status_code == 401
    assert set(res.json["error"]) == {"code", "message"}
    assert res.headers["WWW-Authenticate"].startswith("Bearer ")  # RFC 6750: the scheme the API takes


def test_an_inactive_users_token_is_401(make_staff, token_for, api, shop):
    user = make_staff(role=Role.ADMIN)
    token = token_for(user)
    user.active = False
    db.session.commit()
    assert api("/accounts/A101", token).status_code == 401


def test_a_user_of_another_site_gets_404(make_site, make_staff, token_for, api, shop):
    token = token_for(make_staff(role=Role.OPERATOR, sites=[make_site("elsewhere")]))
    for path in ("/accounts/A101", "/meters/E101"):
        res = api(path, token)
        assert res.status_code == 404
        assert res.json["error"]["code"] == "not_found"


def test_a_user_of_the_site_sees_it(make_staff, token_for, api, shop):
    token = token_for(make_staff(role=Role.CASHIER, sites=[shop.site]))
    assert api("/accounts/A101", token).json["balance_fen"] == 12_345


def test_admin_sees_every_site(make_site, make_account, make_staff, token_for, api, shop):
    make_account(site=make_site("other"), code="B201")
    token = token_for(make_staff(role=Role.ADMIN))
    assert [api(p, token).status_code for p in ("/accounts/A101", "/accounts/B201")] == [200, 200]


def test_unknown_code_is_404_json(make_staff, token_for, api, shop):
    res = api("/meters/NOPE", token_for(make_staff(role=Role.ADMIN)))
    assert res.status_code == 404
    assert set(res.json) == {"error"} and set(res.json["error"]) == {"code", "message"}


def test_unknown_api_path_is_404_json(make_staff, token_for, api):
    res = api("/no-such-thing", token_for(make_staff(role=Role.ADMIN)))
    assert res.status_code == 404
    assert res.json["error"]["code"] == "not_found"


def test_wrong_method_is_405_json(client, make_staff, token_for, shop):
    token = token_for(make_staff(role=Role.ADMIN))
    res = client.delete("/api/v1/accounts/A101", headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 405
    assert res.json["error"]["code"] == "method_not_allowed"


# --- OpenAPI and health ---------------------------------------------------------------------------


def test_openapi_document_needs_no_token_and_is_openapi_3(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert {"title", "version"} <= set(doc["info"])
    assert {"/accounts/{code}", "/meters/{code}"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_openapi_schemas_list_exactly_the_returned_fields(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    assert set(schemas["Account"]["properties"]) == ACCOUNT_KEYS
    assert set(schemas["Meter"]["properties"]) == METER_KEYS
    assert schemas["Account"]["properties"]["balance_fen"]["type"] == "integer"
    assert schemas["Meter"]["properties"]["energy_total"]["type"] == "string"
    assert set(schemas["Error"]["properties"]["error"]["properties"]) == {"code", "message"}


def test_openapi_references_all_resolve(client):
    doc = client.get("/api/v1/openapi.json").json

    def refs(node):
        if isinstance(node, dict):
            yield from ([node["$ref"]] if "$ref" in node else [])
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    found = set(refs(doc["paths"]))
    assert found
    for ref in found:
        _, section, kind, name = ref.split("/")
        assert name in doc[section][kind], ref


def test_openapi_operations_declare_their_path_parameters_and_answers(client):
    doc = client.get("/api/v1/openapi.json").json
    methods = {"get", "post", "put", "patch", "delete"}
    for path, item in doc["paths"].items():
        placeholders = re.findall(r"{(\w+)}", path)
        for method, op in ((m, o) for m, o in item.items() if m in methods):
            declared = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            assert declared == placeholders, (method, path)
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            assert "401" in op["responses"] and op["security"] == [{"bearer": []}], (method, path)


def test_openapi_documents_every_api_route(app, client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    documented = {(m, p) for p, item in paths.items() for m in item if m != "parameters"}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method.lower(), path) in documented


def test_healthz_is_200_with_the_database_up(client):
    res = client.get("/healthz")
    assert res.status_code == 200
    assert res.json["database"] == "ok"
    assert res.json["status"] == "ok"


def test_a_code_in_two_of_the_callers_sites_is_409(
    make_site, make_account, make_staff, token_for, api, shop
):
    make_account(site=make_site("annex"), code="A101")
    res = api("/accounts/A101", token_for(make_staff(role=Role.ADMIN)))
    assert res.status_code == 409
    assert res.json["error"]["code"] == "ambiguous"


def test_openapi_bounds_every_amount_by_what_the_api_accepts(app, client, monkeypatch):
    """Amounts carry the limits the endpoints enforce: the payment limits of this deployment and the API's cash
    maximum, so a client (and Schemathesis) knows the valid range before it is refused."""
    settings = app.config["SETTINGS"]
    monkeypatch.setitem(app.config, "SETTINGS", replace(settings, payments=replace(settings.payments, min_fen=200,
                                                                                   max_fen=3_000_000)))
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    order_amount = schemas["OrderRequest"]["properties"]["amount_fen"]
    assert (order_amount["minimum"], order_amount["maximum"]) == (200, 3_000_000)
    cash_amount = schemas["CashRecharge"]["properties"]["amount_fen"]
    assert (cash_amount["minimum"], cash_amount["maximum"]) == (1, 10_000_000)


def test_openapi_declares_every_error_an_operation_answers(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    answers = {(method, path): set(op["responses"]) for path, item in paths.items() for method, op in item.items()}
    assert answers[("get", "/accounts/{code}")] >= {"200", "400", "401", "404", "409"}
    assert answers[("post", "/meters/{code}/commands")] >= {"202", "400", "401", "403", "404", "409", "422"}
    assert answers[("post", "/orders")] >= {"201", "400", "401", "404", "409", "503"}
    assert answers[("get", "/orders/{out_trade_no}")] >= {"200", "400", "401", "404"}
