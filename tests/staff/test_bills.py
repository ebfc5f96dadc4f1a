"""Shops' monthly bills (/staff/reports/bills): a shop's bill carries its row of the statement for the month, the
balance now, its meters' readings, the property office's phone and how to sign in; printing is a read for cashiers,
managers and auditors, and only a manager's confirmed POST puts binding codes on bills, issued as the sticker sheet
issues them (the printed code binds, the one before stops working)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select, update

from portal.auth.binding import binding_code_matches, hash_binding_code, tidy_code
from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.metering.daily import rebuild_daily
from portal.models import Account, AccountStatus, AuditEntry, EntryKind, IntervalReading, LedgerEntry, MeterKind, Role
from portal.money import format_yuan
from portal.monthly.periods import month_bounds, previous_month
from portal.settings import business_tz, public_url
from portal.staff.bills import this_month
from portal.staff.report_statement import site_statement
from tests.auth.conftest import sent_codes
from tests.staff.test_stickers import decode_modules, modules_of

#: the month billed: the last one (a bill is printed after its month)
MONTH = previous_month(this_month())
OLD_CODE = "K7QM4XR2"


def at(day: int, hour: int = 12) -> datetime:
    """A moment of the billed month (business time), as UTC."""
    start, _end = month_bounds(MONTH, business_tz())
    return start + timedelta(days=day - 1, hours=hour)


def post_at(account: Account, amount: int, kind: EntryKind, when: datetime, key: str, meter_id=None) -> None:
    """A ledger entry as if posted at `when` (posted in time order, so each balance_after stays right)."""
    posted = post_entry(db.session, account, amount, kind, f"test:{key}", meter_id=meter_id)
    db.session.execute(update(LedgerEntry).where(LedgerEntry.id == posted.entry.id).values(created_at=when))


@pytest.fixture
def site(make_site):
    return make_site("mall1", name="一号商场", contact_phone="0854-8123 4567")


@pytest.fixture
def shops(site, make_account, make_gateway, make_meter):
    """A101 with an electricity and a water meter and every kind of movement in the month; A102 never given a
    code; A103 whose code was printed before (its sticker token kept)."""
    opened = at(1) - timedelta(days=40)
    a101 = make_account(site=site, code="A101", name="茶铺 Tea", tenant_name="王", created_at=opened,
                        sticker_token="token-a101-000000000001", binding_code_hash=hash_binding_code("ABCDEFGH"))
    a102 = make_account(site=site, code="A102", name="面馆", created_at=opened)
    a103 = make_account(site=site, code="A103", name="花店", created_at=opened, sticker_token="kept-token-000000000001",
                        binding_code_hash=hash_binding_code(OLD_CODE))
    gateway = make_gateway(site=site)
    electric = make_meter(account=a101, gateway=gateway, code="E101")
    water = make_meter(account=a101, gateway=gateway, code="W101", kind=MeterKind.WATER, profile="payfirst-water-v1")
    post_at(a101, 200_00, EntryKind.OPENING, opened, "opening")
    post_at(a101, 100_00, EntryKind.PAYMENT, at(3), "pay")
    post_at(a101, -50_00, EntryKind.FEE, at(1, 1), "fee")
    post_at(a101, -12_34, EntryKind.ENERGY, at(5), "energy", electric.id)
    post_at(a101, -3_21, EntryKind.WATER, at(5, 13), "water", water.id)
    post_at(a101, -7_89, EntryKind.ALLOCATION, at(6), "allocation")
    post_at(a101, 1_00, EntryKind.ADJUSTMENT, at(7), "adjustment")
    post_at(a101, 20_00, EntryKind.PAYMENT, datetime.now(UTC), "later")  # after the month: the balance now
    for meter, step, total in ((electric, 125, 100_000), (water, 7, 5_000)):
        for n in range(48):
            total += step
            db.session.add(IntervalReading(meter_id=meter.id, interval_start=at(4) + timedelta(hours=n),
                                           energy_total=total, delta=step))
    db.session.commit()
    start, end = month_bounds(MONTH, business_tz())
    rebuild_daily(db.session, (start - timedelta(days=1)).date(), end.date(), site.id)
    db.session.commit()
    return a101, a102, a103


def sheet(client, *codes, month=MONTH, site="mall1"):
    query = "&".join(f"account={c}" for c in codes)
    return client.get(f"/staff/reports/bills/print?site={site}&month={month}&{query}")


def print_codes(client, codes, which, reissue=False, month=MONTH, site="mall1"):
    data = {"site": site, "month": month, "account": list(codes), "codes": which}
    if reissue:
        data["reissue"] = "yes"
    return client.post("/staff/reports/bills/print", data=data)


def bills_of(html: str) -> dict[str, str]:
    """The sheet's bills by account code: each one's HTML."""
    return {re.search(r'data-code="([^"]+)"', b)[1]: b
            for b in re.findall(r'<article class="bill".*?</article>', html, re.S)}


def cell(bill: str, attribute: str) -> str:
    return unescape(re.search(rf'{attribute}[^>]*>([^<]*)<', bill)[1]).strip()


def binding_code(bill: str) -> str | None:
    found = re.search(r'data-testid="binding-code">([^<]+)<', bill)
    return found[1] if found else None


def test_a_bill_carries_the_statements_figures_for_the_shop_and_month(client, manager, site, shops):
    a101, *_ = shops
    html = sheet(client, "A101").get_data(as_text=True)
    bill = bills_of(html)["A101"]
    [row] = [r for r in site_statement(site, MONTH) if r.code == "A101"]
    for column in ("opening", "paid", "energy", "fees", "allocation", "other", "closing"):
        fen = row.fen(column)
        sign = "+" if fen > 0 and column not in ("opening", "closing") else ""  # a movement in, as a bill writes it
        assert cell(bill, f'data-col="{column}"') == sign + format_yuan(fen), column
    # as the ledger has it: 200 + 100 - 50 - 12.34 - 3.21 - 7.89 + 1
    assert (row.fen("opening"), row.fen("closing")) == (200_00, 227_56)
    assert cell(bill, 'data-charge="electric"') == "-12.34" and cell(bill, 'data-charge="water"') == "-3.21"
    assert cell(bill, 'data-usage="electric"') == "60.00" and cell(bill, 'data-usage="water"') == "0.336"
    meters = dict(re.findall(r'data-meter="([^"]+)">(.*?)</tr>', bill, re.S))
    assert re.search(r'data-reading="opening">1000.00<.*data-reading="closing">1060.00<', meters["E101"], re.S)
    assert re.search(r'data-reading="opening">5.000<.*data-reading="closing">5.336<', meters["W101"], re.S)
    balance = db.session.get(Account, a101.id).balance_fen
    assert cell(bill, 'data-testid="current-balance"') == f"¥{format_yuan(balance)}" == "¥247.56"  # paid since too
    assert "0854-8123 4567" in bill and "一号商场" in bill and "茶铺 Tea" in unescape(bill)
    assert cell(bill, 'data-testid="account-code"') == "A101"


def test_a_bill_without_codes_carries_the_stickers_qr_and_voids_nothing(client, manager, site, shops):
    a101, *_ = shops
    before = db.session.scalars(select(AuditEntry.id)).all()
    answer = sheet(client, "A101", "A102")
    bills = bills_of(answer.get_data(as_text=True))
    assert answer.status_code == 200 and list(bills) == ["A101", "A102"]
    url = public_url("/r/token-a101-000000000001")
    assert f'data-url="{url}"' in bills["A101"]
    assert decode_modules(re.search(r"<svg.*?</svg>", bills["A101"], re.S)[0]) == modules_of(url)
    assert binding_code(bills["A101"]) is None and 'data-testid="no-binding-code"' in bills["A101"]
    assert "<svg" not in bills["A102"]  # no sticker address yet: the bill says where to sign in instead
    assert public_url("/auth/tenant/bind") in bills["A102"]
    db.session.expire_all()
    assert binding_code_matches(db.session.get(Account, a101.id).binding_code_hash, "ABCDEFGH")
    assert db.session.scalars(select(AuditEntry.id)).all() == before


def test_the_bills_are_chinese_by_default_and_english_when_asked(client, manager, site, shops):
    zh = sheet(client, "A101").get_data(as_text=True)
    assert "月度电费水费账单" in zh and "期初余额" in zh and "物业服务中心" in zh and f"{MONTH[:4]}年" in zh
    en = client.get(f"/staff/reports/bills/print?site=mall1&month={MONTH}&account=A101",
                    headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Monthly bill for electricity and water" in en and "Opening balance" in en


def test_a_code_printed_on_a_bill_binds_and_the_one_before_no_longer_does(client, manager, site, shops,
                                                                          make_tenant):
    answer = print_codes(client, ["A103"], "all", reissue=True)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    bill = bills_of(answer.get_data(as_text=True))["A103"]
    code = binding_code(bill)
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", code)
    assert f'data-url="{public_url("/r/kept-token-000000000001")}"' in bill  # the sticker's QR stays good
    client.post("/auth/logout")

    def bind(phone: str, typed: str):
        tenant = make_tenant([], phone=phone)
        client.post("/auth/tenant/login/code", data={"phone": phone})
        client.post("/auth/tenant/login/verify", data={"phone": phone, "code": sent_codes(phone)[-1]})
        client.post("/auth/tenant/bind", data={"account": "A103", "binding_code": typed})
        client.post("/auth/logout")
        db.session.expire_all()
        return [a.code for a in db.session.merge(tenant).accounts]

    assert bind("13700009998", OLD_CODE) == []
    assert bind("13700009999", code.lower()) == ["A103"]


def test_voiding_printed_codes_needs_the_confirmation(client, manager, site, shops):
    *_, a103 = shops
    refused = print_codes(client, ["A103"], "all")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'data-testid="bills-error"' in html and binding_code(html) is None
    db.session.expire_all()
    assert binding_code_matches(db.session.get(Account, a103.id).binding_code_hash, OLD_CODE)
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "shop_bills.printed")) is None


def test_codes_for_the_new_shops_leave_the_printed_ones_alone_and_are_audited(client, manager, site, shops):
    _a101, a102, a103 = shops
    answer = print_codes(client, ["A102", "A103"], "new")
    bills = bills_of(answer.get_data(as_text=True))
    assert answer.status_code == 200 and list(bills) == ["A102", "A103"]
    assert binding_code(bills["A103"]) is None
    db.session.expire_all()
    assert binding_code_matches(db.session.get(Account, a103.id).binding_code_hash, OLD_CODE)
    account = db.session.get(Account, a102.id)
    assert binding_code_matches(account.binding_code_hash, tidy_code(binding_code(bills["A102"])))
    assert f'data-url="{public_url("/r/" + account.sticker_token)}"' in bills["A102"]  # its sticker address made
    printed = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "shop_bills.printed"))
    assert printed.actor == manager.actor and printed.site_id == site.id
    assert printed.detail == {"shops": ["A102"], "replaced": [], "month": MONTH}
    issued = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "account.binding_code_issued"))
    assert [e.target_id for e in issued] == [a102.id]


def test_a_sheet_whose_shops_all_have_codes_asks_for_all_or_none(client, manager, site, shops):
    answer = print_codes(client, ["A103"], "new")
    assert answer.status_code == 422 and 'data-testid="bills-error"' in answer.get_data(as_text=True)


def test_the_post_needs_its_csrf_token(client, manager, site, shops, csrf_on):
    _a101, a102, _a103 = shops
    assert print_codes(client, ["A102"], "new").status_code == 400
    db.session.expire_all()
    assert db.session.get(Account, a102.id).binding_code_hash is None


@pytest.mark.parametrize("role", [Role.CASHIER, Role.AUDITOR])
def test_cashiers_and_auditors_print_bills_without_codes_and_issue_none(client, login, make_staff, site, shops,
                                                                         role):
    login.staff(make_staff(role=role, sites=[site]))
    assert client.get("/staff/reports/bills").status_code == 200
    answer = sheet(client, "A101", "A102")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and len(bills_of(html)) == 2
    assert 'data-testid="codes-form"' not in html and binding_code(html) is None
    assert print_codes(client, ["A102"], "new").status_code == 403
    db.session.expire_all()
    assert db.session.get(Account, shops[1].id).binding_code_hash is None


def test_electricians_do_not_open_the_bills(client, login, make_staff, site, shops):
    login.staff(make_staff(role=Role.OPERATOR, sites=[site]))
    assert client.get("/staff/reports/bills").status_code == 403
    assert sheet(client, "A101").status_code == 403


def test_a_manager_of_another_site_gets_nothing_of_this_one(client, login, make_staff, make_site, site, shops):
    other = make_site("other")
    login.staff(make_staff(role=Role.MANAGER, sites=[other]))
    assert client.get("/staff/reports/bills?site=mall1").status_code == 404
    assert sheet(client, "A101").status_code == 404
    assert sheet(client, "A101", site="other").status_code == 404  # this site's shop asked of their own
    assert print_codes(client, ["A102"], "new").status_code == 404
    assert print_codes(client, ["A102"], "new", site="other").status_code == 404
    db.session.expire_all()
    assert db.session.get(Account, shops[1].id).binding_code_hash is None


def test_a_closed_shop_has_no_bill_to_print(client, manager, site, shops):
    shops[1].status = AccountStatus.CLOSED
    db.session.commit()
    assert sheet(client, "A102").status_code == 404
    assert 'data-code="A102"' not in client.get("/staff/reports/bills").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/staff/reports/bills", "/staff/reports/bills/print"])
@pytest.mark.parametrize("query", ["month=2026-13", "month=26-01", "month=1999-12", "site=" + "x" * 40, "tick=some"])
def test_bad_months_and_sites_are_a_400_saying_why(client, manager, site, shops, path, query):
    if path.endswith("print") and query.startswith("tick"):
        query = "account=" + "A" * 40  # the sheet takes no ticks, but account codes
    answer = client.get(f"{path}?{query}")
    assert answer.status_code == 400 and query.partition("=")[0] in answer.get_data(as_text=True)


def test_a_month_not_yet_begun_is_refused_and_this_one_is_said_to_be_unfinished(client, manager, site, shops):
    year, month = map(int, this_month().split("-"))
    ahead = f"{year + 1}-{month:02d}"
    refused = client.get(f"/staff/reports/bills/print?site=mall1&month={ahead}&account=A101")
    assert refused.status_code == 400 and ahead in refused.get_data(as_text=True)
    assert print_codes(client, ["A102"], "new", month=ahead).status_code == 400
    current = sheet(client, "A101", month=this_month()).get_data(as_text=True)
    assert 'data-testid="month-not-over"' in current
    assert 'data-testid="month-not-over"' not in sheet(client, "A101").get_data(as_text=True)


@pytest.mark.parametrize("form", [{"codes": "some"}, {"month": "2026-1"}, {"account": ["A"] * 200}, {"account": []}])
def test_a_malformed_post_is_a_400(client, manager, site, shops, form):
    data = {"site": "mall1", "month": MONTH, "account": ["A102"], "codes": "new", **form}
    assert client.post("/staff/reports/bills/print", data=data).status_code == 400
    db.session.expire_all()
    assert db.session.get(Account, shops[1].id).binding_code_hash is None


def test_every_shop_is_printed_a_sheet_at_a_time(client, manager, site, shops, make_account, monkeypatch):
    monkeypatch.setattr("portal.staff.bills.MAX_BILLS", 2)
    for n in range(3):
        make_account(site=site, code=f"B{n}", created_at=at(1) - timedelta(days=1))
    make_account(site=site, code="C9")  # opened this month: no bill for the last one
    chooser = client.get(f"/staff/reports/bills?month={MONTH}").get_data(as_text=True)
    assert chooser.count('data-testid="bill-shop"') == 6
    got = []
    for page in (1, 2, 3):
        html = client.get(f"/staff/reports/bills/print?site=mall1&month={MONTH}&page={page}").get_data(as_text=True)
        got.append(list(bills_of(html)))
    assert got == [["A101", "A102"], ["A103", "B0"], ["B1", "B2"]]
    assert sheet(client, "A101", "A102", "A103").status_code == 400  # more than a sheet


def test_the_bills_are_reached_from_the_statement_the_shops_page_and_the_counter(client, login, make_staff, site,
                                                                                 shops):
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    statement = client.get(f"/staff/reports/statement?site=mall1&month={MONTH}").get_data(as_text=True)
    assert f'href="/staff/reports/bills?site=mall1&amp;month={MONTH}"' in statement
    shop_page = client.get("/staff/accounts/A101?site=mall1").get_data(as_text=True)
    assert f'href="/staff/reports/bills/print?site=mall1&amp;month={MONTH}&amp;account=A101"' in shop_page
    client.post("/auth/logout")
    login.staff(make_staff(role=Role.CASHIER, sites=[site]))
    assert 'href="/staff/reports/bills"' in client.get("/staff/counter/").get_data(as_text=True)
    assert 'data-testid="report-nav"' not in client.get("/staff/reports/bills").get_data(as_text=True)
