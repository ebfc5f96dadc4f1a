"""/staff/accounts/<code>: one shop for the office: its head, ledger (filtered, paged by keys), orders and refunds,
meters, fee-rate override, emergency credit, tenant bindings and notes; by role and within the user's sites."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select, text

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import (
    AccountNote,
    AlarmKind,
    AuditEntry,
    BindingRole,
    Channel,
    EntryKind,
    FeeCharge,
    LedgerEntry,
    OrderStatus,
    PaymentOrder,
    Receipt,
    Refund,
    RefundStatus,
    Role,
    Supply,
    TenantBinding,
    TenantUser,
)
from portal.monthly.fees import run_fees

EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true", "Accept-Language": "en"}


def ledger_rows(html: str) -> list[str]:
    return re.findall(r'data-entry="(\d+)"', html)


@pytest.fixture
def mall(make_site):
    return make_site("mall", name="Xingli City", emergency_credit_fen=2_000, fee_rate_e4_per_m2=30_000)


@pytest.fixture
def shop(mall, make_account, make_meter):
    """S101 at the mall: a balance, fee arrears, two meters (one off for arrears), a tenant bound by WeChat."""
    acct = make_account(site=mall, code="S101", name="Bakery", tenant_name="Wang Fang", phone="13900000001",
                        area_m2=Decimal("40.00"), balance_fen=12_345, fee_arrears_fen=800, exempt=True)
    make_meter(account=acct, code="E101", state=dict(online=True, supply_actual=Supply.ON))
    make_meter(account=acct, code="E102", supply_desired=Supply.OFF, desired_reason="arrears",
               state=dict(online=False, supply_actual=Supply.OFF))
    return acct


@pytest.fixture
def staff_of(make_staff, mall, login):
    """staff_of(role): a user of that role at the mall, logged in."""
    def make(role: Role):
        user = make_staff(role=role, sites=[mall])
        login.staff(user)
        return user

    return make


def page(client, code="S101", query="", headers=EN):
    return client.get(f"/staff/accounts/{code}{query}", headers=headers)


# --- who may open it, and where ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.CASHIER, Role.MANAGER, Role.OPERATOR, Role.AUDITOR, Role.ADMIN])
def test_every_staff_role_opens_an_account_of_its_sites(client, staff_of, shop, role):
    staff_of(role)
    res = page(client)
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert 'data-testid="account-head"' in html and "Bakery" in html and "Wang Fang" in html
    assert "123.45" in html and "13900000001" in html and "40.00" in html


def test_another_sites_account_is_the_same_404_as_a_missing_one(client, make_site, make_account, make_staff, login,
                                                                 shop):
    elsewhere = make_account(site=make_site("far"), code="F1")
    login.staff(make_staff(role=Role.MANAGER))  # of a site of their own, not the mall
    assert page(client, "S101").status_code == 404
    assert page(client, elsewhere.code).status_code == 404
    assert page(client, "NOPE").status_code == 404


def test_site_narrows_the_search_and_another_sites_code_is_a_404(client, staff_of, shop, make_site, make_account):
    make_account(site=make_site("far"), code="S101", name="Far shop")
    staff_of(Role.CASHIER)
    assert page(client, query="?site=mall").status_code == 200
    assert page(client, query="?site=far").status_code == 404  # not theirs
    assert page(client, query="?site=none").status_code == 404


def test_a_code_at_two_of_the_users_sites_asks_which(client, make_staff, login, shop, mall, make_site, make_account):
    far = make_site("far", name="Far mall")
    make_account(site=far, code="S101", name="Far shop")
    login.staff(make_staff(role=Role.ADMIN))
    res = page(client)
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and 'data-testid="account-chooser"' in html
    assert "/staff/accounts/S101?site=mall" in html and "/staff/accounts/S101?site=far" in html
    assert "Far shop" in page(client, query="?site=far").get_data(as_text=True)


def test_the_head_shows_money_owed_supply_and_exemption(client, staff_of, shop):
    staff_of(Role.OPERATOR)
    html = page(client).get_data(as_text=True)
    start = html.index('data-testid="account-head"')
    head = html[start:html.index("</section>", start)]
    assert "8.00" in head  # fee arrears
    assert 'data-testid="exempt"' in head
    assert 'data-meter="E101"' in head and 'data-meter="E102"' in head
    assert "/staff/counter/" not in head  # an electrician takes no cash


def test_cashiers_get_a_link_to_the_counter(client, staff_of, shop):
    staff_of(Role.CASHIER)
    html = page(client).get_data(as_text=True)
    assert f"/staff/counter/a/{shop.id}" in html


def test_the_counters_search_results_link_to_the_account_page(client, staff_of, shop):
    staff_of(Role.CASHIER)
    html = client.get("/staff/counter/?q=Bakery", headers=HX).get_data(as_text=True)
    assert "/staff/accounts/S101?site=mall" in html


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.CASHIER, Role.AUDITOR])
def test_an_alarm_about_a_shop_links_to_its_page(client, staff_of, shop, role):
    from portal.alarms import raise_alarm

    raise_alarm(db.session, AlarmKind.ARREARS, f"account:{shop.id}", shop.site_id, "S101 in arrears",
                data=dict(what="arrears", account="S101", balance_fen=-250, warning_minutes=0), account_id=shop.id)
    db.session.commit()
    staff_of(role)
    assert 'href="/staff/accounts/S101?site=mall"' in client.get("/staff/alarms", headers=EN).get_data(as_text=True)


def test_the_counters_page_of_a_shop_links_to_its_account_page(client, staff_of, shop):
    staff_of(Role.CASHIER)
    html = client.get(f"/staff/counter/a/{shop.id}", headers=EN).get_data(as_text=True)
    assert 'href="/staff/accounts/S101?site=mall"' in html


# --- the ledger --------------------------------------------------------------------------------------------------

def _entry(acct, amount, kind, at, balance_after, actor="system:billing", key=None, memo=""):
    entry = LedgerEntry(account_id=acct.id, amount_fen=amount, kind=kind, balance_after_fen=balance_after,
                        idempotency_key=key or f"test:{acct.id}:{at.isoformat()}:{kind.value}", actor=actor,
                        memo=memo, created_at=at)
    db.session.add(entry)
    return entry


@pytest.fixture
def history(shop):
    """Entries of several kinds on known days (business time, Asia/Shanghai) after the opening entry."""
    day = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    made = [
        _entry(shop, -150, EntryKind.ENERGY, day, 12_195, memo="E101 15 min"),
        _entry(shop, 5_000, EntryKind.CASH, day + timedelta(days=1), 17_195, actor="staff:alice"),
        _entry(shop, -3_000, EntryKind.FEE, day + timedelta(days=2), 14_195, actor="system:fees"),
        _entry(shop, -1_850, EntryKind.ENERGY, day + timedelta(days=3), 12_345),
    ]
    db.session.commit()
    return made


def test_the_ledger_is_newest_first_with_the_balance_after_each_entry(client, staff_of, shop, history):
    staff_of(Role.MANAGER)
    html = page(client).get_data(as_text=True)
    ids = ledger_rows(html)
    assert ids[1:5] == [str(e.id) for e in reversed(history)]  # after the opening balance, posted today
    row = re.search(rf'<tr data-entry="{history[2].id}".*?</tr>', html, re.DOTALL).group(0)
    assert "141.95" in row and "-30.00" in row  # the running balance and the amount
    assert "monthly fees run" in row  # the actor in words, not system:fees
    cash = re.search(rf'<tr data-entry="{history[1].id}".*?</tr>', html, re.DOTALL).group(0)
    assert "alice" in cash
    assert "/staff/counter/receipts" not in row  # a fee has no receipt


def test_a_counter_entry_links_its_receipt_by_the_sites_receipt_number(client, staff_of, shop):
    from portal.counter import operations as ops

    entry, _ = ops.counter_recharge(db.session, shop, 1_000, "cash", "", "staff:alice", uuid.uuid4().hex)
    db.session.commit()
    number = db.session.scalar(select(Receipt.number).where(Receipt.entry_id == entry.id))
    staff_of(Role.CASHIER)
    row = re.search(rf'<tr data-entry="{entry.id}".*?</tr>', page(client).get_data(as_text=True), re.DOTALL).group(0)
    assert f'href="/staff/counter/receipts/{entry.id}"' in row and f">{number}</a>" in row


def test_an_electrician_sees_no_receipt_links(client, staff_of, shop):
    from portal.counter import operations as ops

    ops.counter_recharge(db.session, shop, 1_000, "cash", "", "staff:alice", uuid.uuid4().hex)
    db.session.commit()
    staff_of(Role.OPERATOR)
    html = page(client).get_data(as_text=True)
    assert "Counter recharge" in html and "/staff/counter/receipts" not in html


def test_the_ledger_filters_by_kind_and_by_days(client, staff_of, shop, history):
    staff_of(Role.CASHIER)
    energy = ledger_rows(page(client, query="?kind=energy", headers=HX).get_data(as_text=True))
    assert energy == [str(history[3].id), str(history[0].id)]
    days = ledger_rows(page(client, query="?from=2026-03-11&to=2026-03-12").get_data(as_text=True))
    assert days == [str(history[2].id), str(history[1].id)]
    both = ledger_rows(page(client, query="?kind=energy&from=2026-03-11").get_data(as_text=True))
    assert both == [str(history[3].id)]


def test_the_ledger_filter_answers_htmx_with_the_ledger_alone(client, staff_of, shop, history):
    staff_of(Role.CASHIER)
    res = page(client, query="?kind=fee", headers=HX)
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and html.lstrip().startswith('<section id="account-ledger"')
    assert "HX-Request" in res.headers.get("Vary", "")


@pytest.mark.parametrize("query, name", [
    ("?kind=bogus", "kind"),
    ("?from=2026-13-01", "from"),
    ("?to=9999-01-01", "to"),
    ("?from=2026-03-12&to=2026-03-11", "from"),
    ("?before=abc", "before"),
    ("?after=99999999999999999999", "after"),
    ("?site=" + "x" * 40, "site"),
])
def test_a_bad_filter_is_a_400_that_names_it(client, staff_of, shop, query, name):
    staff_of(Role.CASHIER)
    res = page(client, query=query)
    assert res.status_code == 400
    assert name in res.get_data(as_text=True)


def test_a_cursor_of_another_accounts_entry_is_a_400(client, staff_of, shop, make_account, mall):
    other = make_account(site=mall, code="S102", balance_fen=100)
    foreign = db.session.scalar(select(LedgerEntry.id).where(LedgerEntry.account_id == other.id))
    staff_of(Role.CASHIER)
    assert page(client, query=f"?before={foreign}").status_code == 400


def test_older_and_newer_pages_follow_each_other_without_counting_the_ledger(client, staff_of, shop, app):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(120):
        _entry(shop, -1, EntryKind.ENERGY, start + timedelta(minutes=15 * n), 12_345 - n - 1, key=f"e:{n}")
    db.session.commit()
    staff_of(Role.CASHIER)
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.lower())

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        first = page(client).get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "count(" in s and "ledger_entries" in s]
    assert len(ledger_rows(first)) == 50
    older = re.search(r'href="([^"]*before=(\d+)[^"]*)"', first)
    assert older and older.group(2) == ledger_rows(first)[-1]
    second = client.get(older.group(1).replace("&amp;", "&"), headers=EN).get_data(as_text=True)
    assert len(ledger_rows(second)) == 50 and ledger_rows(second)[0] == str(int(ledger_rows(first)[-1]) - 1)
    newer = re.search(r'href="([^"]*after=(\d+)[^"]*)"', second)
    assert newer and newer.group(2) == ledger_rows(second)[0]
    back = client.get(newer.group(1).replace("&amp;", "&"), headers=EN).get_data(as_text=True)
    assert ledger_rows(back) == ledger_rows(first)
    third = client.get(f"/staff/accounts/S101?before={ledger_rows(second)[-1]}", headers=EN).get_data(as_text=True)
    assert len(ledger_rows(third)) == 21  # 120 entries and the opening one
    assert "before=" not in third.split('id="account-ledger"', 1)[1].split("</section>", 1)[0]


@pytest.mark.slow
def test_a_ledger_of_years_of_quarter_hours_is_read_by_an_index(client, staff_of, shop):
    """Three years of 15-minute energy entries: every filter's query walks an index of the ledger (the shop's
    (account_id, created_at), or for a rare kind the partial index of the kinds that are not energy or water)."""
    db.session.execute(text(
        "INSERT INTO ledger_entries (account_id, amount_fen, kind, idempotency_key, balance_after_fen, memo, actor,"
        " created_at) SELECT :acct, -1, 'energy', 'bulk:' || n, -n, '', 'system:billing',"
        " timestamptz '2023-01-01 00:00+00' + n * interval '15 minutes' FROM generate_series(1, 105000) AS n"),
        {"acct": shop.id})
    db.session.commit()
    db.session.execute(text("ANALYZE ledger_entries"))
    db.session.commit()
    staff_of(Role.MANAGER)
    statements = []

    def seen(conn, cursor, statement, parameters, *args):
        if "FROM ledger_entries" in statement and "LIMIT" in statement:
            statements.append((statement, parameters))

    for query in ("", "?kind=energy", "?from=2024-02-01&to=2024-02-29", "?kind=cash&from=2025-06-01"):
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            assert page(client, query=query).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        assert statements, query
        for statement, parameters in statements:
            with db.engine.connect() as conn:
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert "Seq Scan" not in plan and "Index Scan" in plan, (query, plan)
            if "kind=cash" not in query:
                assert "ix_ledger_entries_account_created" in plan, (query, plan)


# --- orders, refunds and meters ----------------------------------------------------------------------------------

def test_orders_and_refunds_are_shown_with_status_and_channel_in_words(client, staff_of, shop):
    now = datetime.now(UTC)
    order = PaymentOrder(out_trade_no="PF20260310A", account_id=shop.id, amount_fen=10_000,
                         channel=Channel.WECHAT_JSAPI, status=OrderStatus.CREDITED, expires_at=now, paid_at=now)
    db.session.add(order)
    db.session.flush()
    db.session.add(Refund(order_id=order.id, out_refund_no="RF1", amount_fen=2_000, reason="moved out",
                          requested_by="staff:alice", status=RefundStatus.REQUESTED))
    db.session.commit()
    staff_of(Role.AUDITOR)
    html = page(client).get_data(as_text=True)
    row = re.search(r'<tr data-order="PF20260310A".*?</tr>', html, re.DOTALL).group(0)
    assert "WeChat Pay" in row and "credited" in row and "wechat_jsapi" not in row
    refund = re.search(r'<tr data-refund="RF1".*?</tr>', html, re.DOTALL).group(0)
    assert "waiting for a manager" in refund and "20.00" in refund and "moved out" in refund


def test_meters_link_to_their_pages_with_online_and_supply(client, staff_of, shop):
    staff_of(Role.OPERATOR)
    html = page(client).get_data(as_text=True)
    row = re.search(r'<tr data-meter-row="E102".*?</tr>', html, re.DOTALL).group(0)
    assert 'href="/staff/meters/E102?site=mall"' in row
    assert "offline" in row and "off" in row and "arrears" in row.lower()


# --- fee-rate override ---------------------------------------------------------------------------------------------

def fee_post(client, data, headers=HX):
    return client.post("/staff/accounts/S101/fee?site=mall", data=data, headers=headers)


def test_a_manager_sets_a_shops_own_rate_audited_with_before_and_after(client, staff_of, shop):
    user = staff_of(Role.MANAGER)
    res = fee_post(client, {"basis": "rate", "rate": "5.25"})
    assert res.status_code == 200 and 'id="account-fee"' in res.get_data(as_text=True)
    db.session.refresh(shop)
    assert (shop.fee_rate_e4_per_m2, shop.fee_fixed_fen) == (52_500, 0)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.fee_override"))
    assert entry.actor == f"staff:{user.username}" and entry.target_id == shop.id
    assert entry.detail["changed"] == {"fee_rate_e4_per_m2": [None, 52_500], "fee_fixed_fen": [None, 0]}
    assert "210.00" in res.get_data(as_text=True)  # 5.25 × 40 m²: the fee it makes


def test_a_fixed_amount_and_back_to_the_sites_rate(client, staff_of, shop):
    staff_of(Role.MANAGER)
    fee_post(client, {"basis": "fixed", "fixed": "88.8"})
    db.session.refresh(shop)
    assert (shop.fee_rate_e4_per_m2, shop.fee_fixed_fen) == (None, 8_880)
    fee_post(client, {"basis": "site"})
    db.session.refresh(shop)
    assert (shop.fee_rate_e4_per_m2, shop.fee_fixed_fen) == (None, None)
    changes = db.session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "account.fee_override")
                                 .order_by(AuditEntry.id)).all()
    assert changes[-1]["changed"] == {"fee_fixed_fen": [8_880, None]}


@pytest.mark.parametrize("data", [
    {"basis": "rate", "rate": "abc"},
    {"basis": "rate", "rate": ""},
    {"basis": "rate", "rate": "1.23456"},
    {"basis": "rate", "rate": "1001"},
    {"basis": "fixed", "fixed": "12.345"},
    {"basis": "fixed", "fixed": "-5"},
    {"basis": "fixed", "fixed": "100001"},
    {"basis": "sideways"},
])
def test_a_bad_override_is_refused_with_a_message_and_changes_nothing(client, staff_of, shop, data):
    staff_of(Role.MANAGER)
    res = fee_post(client, data)
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and 'role="alert"' in html
    assert fee_post(client, data, headers=EN).status_code == 303  # a plain form: flashed, back to the page
    db.session.refresh(shop)
    assert (shop.fee_rate_e4_per_m2, shop.fee_fixed_fen) == (None, None)
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.fee_override")) is None


@pytest.mark.parametrize("role", [Role.CASHIER, Role.OPERATOR, Role.AUDITOR])
def test_only_managers_set_a_shops_fee(client, staff_of, shop, role):
    staff_of(role)
    assert fee_post(client, {"basis": "rate", "rate": "1"}).status_code == 403
    db.session.refresh(shop)
    assert shop.fee_rate_e4_per_m2 is None


def test_the_next_fee_run_charges_the_shops_own_rate(client, staff_of, shop, mall, make_account):
    neighbour = make_account(site=mall, code="S102", area_m2=Decimal("40.00"), balance_fen=100_000)
    staff_of(Role.MANAGER)
    fee_post(client, {"basis": "rate", "rate": "5.25"})
    run_fees(db.session, "2026-01", site_ids={mall.id})
    db.session.commit()
    fees = dict(db.session.execute(select(FeeCharge.account_id, FeeCharge.fee_fen)).tuples().all())
    assert fees == {shop.id: 21_000, neighbour.id: 12_000}  # 5.25 and the site's 3.00 × 40 m²


# --- emergency credit ------------------------------------------------------------------------------------------------

@pytest.fixture
def low_shop(mall, make_account):
    return make_account(site=mall, code="S201", name="Florist", balance_fen=100)


@pytest.mark.parametrize("role", [Role.CASHIER, Role.MANAGER])
def test_the_office_grants_emergency_credit_for_a_tenant_who_calls(client, staff_of, low_shop, role):
    user = staff_of(role)
    res = client.post("/staff/accounts/S201/emergency?site=mall", headers=EN)
    assert res.status_code == 303
    db.session.refresh(low_shop)
    assert (low_shop.balance_fen, low_shop.emergency_owed_fen) == (2_100, 2_000)
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.account_id == low_shop.id,
                                                        LedgerEntry.kind == EntryKind.EMERGENCY))
    assert entry.actor == f"staff:{user.username}"
    html = client.get("/staff/accounts/S201", headers=EN).get_data(as_text=True)
    section = html[html.index('id="account-emergency"'):]
    assert "20.00" in section and 'data-testid="emergency-owed"' in section


def test_a_refused_grant_says_why_in_words(client, staff_of, low_shop):
    staff_of(Role.CASHIER)
    client.post("/staff/accounts/S201/emergency?site=mall", headers=EN)
    again = client.post("/staff/accounts/S201/emergency?site=mall", headers=HX)
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and 'role="alert"' in html and "already" in html.lower()
    db.session.refresh(low_shop)
    assert low_shop.emergency_owed_fen == 2_000


def test_a_shop_with_money_is_not_offered_emergency_credit(client, staff_of, shop):
    staff_of(Role.MANAGER)
    res = client.post("/staff/accounts/S101/emergency?site=mall", headers=HX)
    assert 'role="alert"' in res.get_data(as_text=True) and "balance" in res.get_data(as_text=True).lower()
    db.session.refresh(shop)
    assert shop.emergency_owed_fen == 0


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.AUDITOR])
def test_electricians_and_auditors_grant_no_emergency_credit(client, staff_of, low_shop, role):
    staff_of(role)
    assert client.post("/staff/accounts/S201/emergency?site=mall", headers=EN).status_code == 403
    assert 'action="/staff/accounts/S201/emergency' not in page(client, "S201").get_data(as_text=True)


# --- tenant bindings -------------------------------------------------------------------------------------------------

@pytest.fixture
def tenant(shop, make_tenant):
    user = make_tenant([shop], phone="13800000009")
    user.name, user.wechat_openid = "Li Lei", "o-wechat-1"
    db.session.commit()
    return user


def test_bindings_list_who_sees_the_shop(client, staff_of, shop, tenant, make_tenant):
    second = make_tenant([shop], phone="13700000007")
    db.session.execute(TenantBinding.__table__.update().where(TenantBinding.tenant_user_id == second.id)
                       .values(role=BindingRole.MANAGER))
    db.session.commit()
    staff_of(Role.CASHIER)
    html = page(client).get_data(as_text=True)
    row = re.search(rf'<tr data-tenant="{tenant.id}".*?</tr>', html, re.DOTALL).group(0)
    assert "Li Lei" in row and "13800000009" in row and 'data-testid="wechat-bound"' in row and "owner" in row
    other = re.search(rf'<tr data-tenant="{second.id}".*?</tr>', html, re.DOTALL).group(0)
    assert 'data-testid="wechat-bound"' not in other and "manager" in other


def test_a_revoked_tenant_loses_the_shop_on_their_next_request(app, client, staff_of, shop, tenant):
    phone = app.test_client()
    assert phone.post("/auth/tenant/login", data={"account": "S101", "phone": "13800000009"}).status_code in (302, 303)
    assert phone.get(f"/t/a/{shop.id}").status_code == 200
    manager = staff_of(Role.MANAGER)

    res = client.post(f"/staff/accounts/S101/bindings/{tenant.id}/revoke?site=mall", headers=HX)

    assert res.status_code == 200 and f'data-tenant="{tenant.id}"' not in res.get_data(as_text=True)
    assert db.session.scalar(select(TenantBinding).where(TenantBinding.tenant_user_id == tenant.id)) is None
    assert phone.get(f"/t/a/{shop.id}").status_code == 404
    assert phone.get(f"/t/a/{shop.id}/history").status_code == 404
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "tenant.binding_revoked"))
    assert entry.actor == f"staff:{manager.username}" and entry.target_type == "account"
    assert entry.detail["tenant_user_id"] == tenant.id


def test_revoking_a_binding_that_is_gone_is_a_404(client, staff_of, shop, tenant, make_account, mall):
    other = make_account(site=mall, code="S102")
    staff_of(Role.MANAGER)
    assert client.post(f"/staff/accounts/S102/bindings/{tenant.id}/revoke?site=mall").status_code == 404
    assert other.id and db.session.get(TenantUser, tenant.id) is not None


@pytest.mark.parametrize("role", [Role.CASHIER, Role.OPERATOR, Role.AUDITOR])
def test_only_managers_revoke_bindings(client, staff_of, shop, tenant, role):
    staff_of(role)
    assert client.post(f"/staff/accounts/S101/bindings/{tenant.id}/revoke?site=mall").status_code == 403
    assert db.session.scalar(select(TenantBinding).where(TenantBinding.tenant_user_id == tenant.id)) is not None


# --- notes -----------------------------------------------------------------------------------------------------------

def note_post(client, body, headers=HX):
    return client.post("/staff/accounts/S101/notes?site=mall", data={"body": body}, headers=headers)


@pytest.mark.parametrize("role", [Role.CASHIER, Role.MANAGER, Role.OPERATOR])
def test_staff_keep_notes_newest_first_with_their_name(client, staff_of, shop, role):
    user = staff_of(role)
    note_post(client, "Promised to pay on Friday")
    res = note_post(client, "Key left at the desk")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and html.lstrip().startswith('<section id="account-notes"')
    assert html.index("Key left at the desk") < html.index("Promised to pay on Friday")
    assert user.username in html
    notes = db.session.scalars(select(AccountNote).where(AccountNote.account_id == shop.id)).all()
    assert {n.author for n in notes} == {f"staff:{user.username}"}


@pytest.mark.parametrize("body, says", [("", "empty"), ("   ", "empty"), ("x" * 2001, "2000")])
def test_an_empty_or_overlong_note_is_refused_and_kept_in_the_form(client, staff_of, shop, body, says):
    staff_of(Role.CASHIER)
    res = note_post(client, body)
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and 'role="alert"' in html and says in html
    if body.strip():
        assert body in html  # what was typed is not lost
    assert db.session.scalar(select(AccountNote)) is None


def test_an_auditor_reads_notes_and_adds_none(client, staff_of, shop):
    db.session.add(AccountNote(account_id=shop.id, author="staff:alice", body="Called about the bill"))
    db.session.commit()
    staff_of(Role.AUDITOR)
    html = page(client).get_data(as_text=True)
    assert "Called about the bill" in html and 'name="body"' not in html
    assert note_post(client, "sneaky").status_code == 403


def test_a_note_is_audited(client, staff_of, shop):
    staff_of(Role.OPERATOR)
    note_post(client, "Meter box lock broken")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.note_added"))
    assert entry.target_id == shop.id and entry.site_id == shop.site_id


def test_the_audit_log_names_the_pages_changes_in_words(client, staff_of, shop, tenant):
    staff_of(Role.MANAGER)
    note_post(client, "Called")
    fee_post(client, {"basis": "rate", "rate": "1"})
    client.post(f"/staff/accounts/S101/bindings/{tenant.id}/revoke?site=mall", headers=HX)
    html = client.get("/staff/audit", headers=EN).get_data(as_text=True)
    for words in ("Note added to shop", "Shop&#39;s own property fee changed", "Tenant&#39;s access to shop revoked"):
        assert words in html
