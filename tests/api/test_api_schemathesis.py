"""Schemathesis against the API's own document (/api/v1/openapi.json), through the WSGI app with a manager's
bearer token: valid and invalid data for every operation, then workflows along the document's links (an account
to its recharges and orders, an order to its status, a meter to its commands). No answer may be a 500, and every
answer must be what the document says: its status declared, its content type, its body's schema, 405 with Allow.

Bounded for CI: a fixed number of examples, derandomized (the same cases every run), no deadline, no example
database; the counts are in MAX_EXAMPLES and the settings below.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from portal.alarms import raise_alarm
from portal.extensions import db
from portal.models import AlarmKind, ControlMode, Role, Supply
from portal.staffing.tokens import create_token
from tests.payments.conftest import alipay_env, alipay_keys, standin

#: examples per operation and generation mode (9 operations, positive and negative)
MAX_EXAMPLES = 25
#: workflows along the links, and steps in each
WORKFLOWS, STEPS = 15, 6
BOUNDED = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@pytest.fixture
def site(make_site):
    return make_site("mall")


@pytest.fixture
def bearer(site, make_staff) -> dict:
    """The headers of a manager of the site: sent with every call, so Schemathesis knows them for its auth checks."""
    token = create_token(make_staff(role=Role.MANAGER, sites=[site]))
    db.session.commit()
    # identity: a month of usage is over 1 KB and gzipped for a client that accepts it (portal.web.compress), and
    # Schemathesis's WSGI transport sends "Accept-Encoding: gzip" but reads the body without decoding it
    return {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}


@pytest.fixture
def api_schema(app, monkeypatch, alipay_env, site, make_account, make_meter):
    """The loaded document, its calls sent to the app; shops A101/A102, meters E101/E102 in the manager's site."""
    shop = make_account(site=site, code="A101", balance_fen=12_345, name="Shop 101")
    make_account(site=site, code="A102", balance_fen=0, name="Shop 102")
    make_meter(account=shop, code="E101", control_mode=ControlMode.METER,
               state={"online": True, "supply_actual": Supply.ON, "energy_total": 123_456, "power_w": 1_520,
                      "remaining_fen": 8_800, "purchase_count": 3})
    off = make_meter(account=shop, code="E102")
    raise_alarm(db.session, AlarmKind.SUPPLY_OFF, f"meter:{off.id}", site.id, "meter E102 supply off (remote)",
                data=dict(what="supply_off", meter="E102", reason="remote"), meter_id=off.id, account_id=shop.id)
    db.session.commit()
    # a 500 is an answer Schemathesis must see (and report with the case), not an exception in the test client
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    config = SchemathesisConfig.from_dict({
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # the codes that exist, half of the time: the rest of the time whatever the generator makes of a string
        "dictionaries": {"accounts": {"values": ["A101", "A102"]}, "meters": {"values": ["E101", "E102"]},
                         "sites": {"values": ["mall"]}},
        "operations": [
            {"include-path-regex": "^/accounts/", "parameters": {
                "path.code": {"dictionary": "accounts", "probability": 0.5}}},
            {"include-path": "/notifications", "parameters": {
                "query.account": {"dictionary": "accounts", "probability": 0.5}}},
            {"include-path": "/alarms", "parameters": {"query.site": {"dictionary": "sites", "probability": 0.5}}},
            {"include-path-regex": "^/meters/", "parameters": {
                "path.code": {"dictionary": "meters", "probability": 0.5}}},
            # a period is two days that each match the document; that `from` comes first and the two lie at most
            # 366 days apart no schema can say: such a pair is a 400, as the document's description says
            {"include-path-regex": "/usage$", "checks": {"positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409"]}}},
            # WeChat Pay is not configured here: its channels answer 503 as documented (Alipay's stand-in runs)
            {"include-path": "/orders", "parameters": {
                "body.account": {"dictionary": "accounts", "probability": 0.5}},
             "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}}},
        ],
    })
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@BOUNDED
def test_every_operation_answers_by_the_document(case, bearer):
    try:
        case.call_and_validate(headers=bearer)
    finally:
        db.session.remove()  # the app shares the test's app context: start each call on a fresh session


def test_workflows_along_the_links_answer_by_the_document(api_schema, bearer):
    machine = api_schema.as_state_machine()

    class Workflow(machine):
        def get_call_kwargs(self, case):
            return {"headers": bearer}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, additional_checks=additional_checks, headers=bearer,
                                   transport_kwargs=kwargs, recorder=self.recorder)

        def teardown(self):
            db.session.remove()

    Workflow.run(settings=settings(BOUNDED, max_examples=WORKFLOWS, stateful_step_count=STEPS))
