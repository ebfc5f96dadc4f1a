"""Templates get their data from their own view, or from portal/web's app-wide formatting helpers.

A tenant template that calls a helper the staff blueprint registers app-wide works until someone changes the
staff area. So: no blueprint registers app-wide template helpers; the app-wide ones are the framework's and
portal/web's; and every name a tenant page's templates use (read from Jinja's AST, every branch) is passed by
the view that renders it, or is one of those app-wide names.
"""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask, before_render_template
from jinja2 import meta, nodes

from portal.ledger.entries import post_entry
from portal.models import Channel, EntryKind, PaymentOrder, utcnow
from portal.web import templating

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
HX = {"HX-Request": "true"}

#: names the framework gives every template: Jinja's, Flask's, Flask-Babel's, Flask-WTF's and Flask-Login's
FRAMEWORK = {"range", "dict", "lipsum", "cycler", "joiner", "namespace",
             "url_for", "get_flashed_messages", "config", "request", "session", "g",
             "_", "gettext", "ngettext", "pgettext", "npgettext", "csrf_token", "csrf_meta_tag", "current_user"}
#: portal/web's app-wide helpers: formatting only, the same for every audience (a new one is a reviewed change)
PORTAL_WEB_GLOBALS = {"label", "who", "get_locale", "quantity"}


def portal_web_globals() -> set[str]:
    """The globals portal.web.templating adds to an app."""
    bare = Flask(__name__)
    before = set(bare.jinja_env.globals)
    templating.init_app(bare)
    return set(bare.jinja_env.globals) - before


def test_no_blueprint_registers_app_wide_template_helpers():
    pattern = re.compile(r"app_template_(global|filter|test)|app_context_processor|jinja_env\.")
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "portal").rglob("*.py")
                 if path.parent.name != "web" and pattern.search(path.read_text())]
    assert offenders == []


def test_app_wide_template_names_are_the_frameworks_and_portal_webs(app):
    assert portal_web_globals() == PORTAL_WEB_GLOBALS
    assert set(app.jinja_env.globals) <= FRAMEWORK | PORTAL_WEB_GLOBALS
    with app.test_request_context():
        injected = {name for processor in app.template_context_processors[None] for name in processor()}
    assert injected <= FRAMEWORK


@pytest.fixture
def rendered(app, monkeypatch):
    """{template name: names its view passed}, for every template rendered while the test runs."""
    seen: dict[str, set[str]] = {}
    pending: list[set[str]] = []
    update = app.update_template_context

    def spy(context):
        pending.append(set(context))  # the view's own names, before the context processors add theirs
        update(context)

    def record(sender, template, context, **extra):
        seen.setdefault(template.name, set()).update(pending.pop())

    monkeypatch.setattr(app, "update_template_context", spy)
    before_render_template.connect(record, app)
    yield seen
    before_render_template.disconnect(record, app)


def open_every_tenant_page(client, login, make_account, make_meter, make_tenant, db_session):
    """Every tenant view, as a page and as htmx's partial, including refused forms."""
    shop = make_account(code="S1", balance_fen=100)
    shop.site.emergency_credit_fen = 2_000
    other = make_account(site=shop.site, code="S2")
    make_meter(account=shop, code="E1")
    tenant = make_tenant([shop, other])
    login.tenant(tenant, shop)
    order = PaymentOrder(out_trade_no="T" * 20, account_id=shop.id, amount_fen=10_000, channel=Channel.SANDBOX,
                         created_by="tenant:test", payer="", expires_at=utcnow() + timedelta(minutes=15))
    stranger = make_account(site=shop.site, code="S3", sticker_token="sticker-of-s3")  # not the tenant's shop
    paid_in = PaymentOrder(out_trade_no="R" * 20, account_id=stranger.id, amount_fen=10_000,
                           channel=Channel.SANDBOX, created_by=tenant.actor, payer="",
                           expires_at=utcnow() + timedelta(minutes=15))
    db_session.add_all([order, paid_in])
    paid = post_entry(db_session, shop, 5_000, EntryKind.CASH, "cash:contracts", method="cash").entry
    db_session.commit()
    month = utcnow().strftime("%Y-%m")
    bad_invoice = {"entry": paid.id, "title_kind": "company", "title": "", "tax_id": "bad"}
    answers = [
        client.get("/t/"), client.get("/t/", headers=HX),
        client.get(f"/t/a/{shop.id}"), client.get(f"/t/a/{shop.id}", headers=HX),
        client.get(f"/t/a/{shop.id}/days", headers=HX),
        client.get(f"/t/a/{shop.id}/history"), client.get(f"/t/a/{shop.id}/history", headers=HX),
        client.get(f"/t/a/{shop.id}/history?month={month}", headers=HX),
        client.get(f"/t/a/{shop.id}/history?month={month}&kind=payments"),
        client.get(f"/t/a/{shop.id}/receipts/{paid.id}"),
        client.get(f"/t/a/{shop.id}/invoices"), client.get(f"/t/a/{shop.id}/invoices", headers=HX),
        client.get(f"/t/a/{shop.id}/invoices/new"), client.get(f"/t/a/{shop.id}/invoices/new?entry={paid.id}"),
        client.post(f"/t/a/{shop.id}/invoices", data=bad_invoice),
        client.post(f"/t/a/{shop.id}/invoices", data=bad_invoice, headers=HX),
        client.post(f"/t/a/{shop.id}/pay", data={"amount": "custom", "custom": "lots"}),
        client.post(f"/t/a/{shop.id}/pay", data={"amount": "custom", "custom": "lots"}, headers=HX),
        client.get(f"/t/orders/{order.out_trade_no}"), client.get(f"/t/orders/{order.out_trade_no}", headers=HX),
        client.post(f"/t/a/{shop.id}/emergency", headers=HX), client.post(f"/t/a/{shop.id}/emergency", headers=HX),
        client.get("/r/sticker-of-s3"),
        client.post("/r/sticker-of-s3/pay", data={"amount": "custom", "custom": "lots"}),
        client.post("/r/sticker-of-s3/pay", data={"amount": "custom", "custom": "lots"}, headers=HX),
        client.get(f"/r/sticker-of-s3/orders/{paid_in.out_trade_no}"),
        client.get(f"/r/sticker-of-s3/orders/{paid_in.out_trade_no}", headers=HX),
        client.get(f"/t/a/{shop.id}/alerts"), client.get(f"/t/a/{shop.id}/alerts", headers=HX),
        client.post(f"/t/a/{shop.id}/alerts", data={"quiet_start": "22:00"}),
        client.post(f"/t/a/{shop.id}/alerts", data={"channel": "sms", "event": "fee_posted"}, headers=HX),
    ]
    assert all(a.status_code in (200, 422) for a in answers), [a.status_code for a in answers]


def stored_names(tree) -> set[str]:
    """Names a template assigns ({% set %}, loop targets...): an included template sees them."""
    return {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}


def test_tenant_templates_use_only_what_their_view_passes(app, client, login, make_account, make_meter,
                                                          make_tenant, db_session, rendered, monkeypatch):
    open_every_tenant_page(client, login, make_account, make_meter, make_tenant, db_session)
    app_wide = FRAMEWORK | portal_web_globals()
    # find_undeclared_variables leaves out the environment's globals, a blueprint's app-wide helpers among them
    monkeypatch.setattr(app.jinja_env, "globals", {})
    problems, reached = [], set()
    for top, passed in rendered.items():
        queue, seen = [(top, frozenset())], set()
        while queue:  # the template, then what it extends, includes and imports, with the names it sets
            name, from_includer = queue.pop()
            seen.add(name)
            tree = app.jinja_env.parse(app.jinja_env.loader.get_source(app.jinja_env, name)[0])
            unknown = meta.find_undeclared_variables(tree) - passed - app_wide - from_includer
            problems += [f"{name} (rendered by the view of {top}) uses {n}" for n in sorted(unknown)]
            queue += [(child, from_includer | stored_names(tree)) for child in meta.find_referenced_templates(tree)
                      if child not in seen]
        reached |= seen
    tenant = {f"tenant/{p.name}" for p in (TEMPLATES / "tenant").glob("*.html")}
    assert tenant - reached == set(), "tenant templates no test renders: add their view above"
    assert not problems, "\n".join(problems)
