"""Printable sticker sheets (/staff/stickers): a manager of the site chooses shops, printing issues them new
binding codes (audited, confirmed when a printed code is replaced), and the A4 sheet carries for each shop the QR
code of its `/r/<token>`, its code, its name and the binding code, which then binds the shop."""
from __future__ import annotations

import re
from html import unescape

import pytest
import qrcode
from sqlalchemy import select

from portal.auth.binding import binding_code_matches, hash_binding_code, tidy_code
from portal.extensions import db
from portal.models import Account, AuditEntry, Role
from portal.settings import public_url
from tests.auth.conftest import sent_codes

HX = {"HX-Request": "true"}


@pytest.fixture
def site(make_site):
    return make_site("mall1", name="一号商场")


@pytest.fixture
def shops(site, make_account):
    """Two new shops, and one whose code was printed before (its sticker token kept)."""
    new1 = make_account(site=site, code="A101", name="茶铺 Tea", tenant_name="王")
    new2 = make_account(site=site, code="A102", name="面馆")
    printed = make_account(site=site, code="A103", name="花店", binding_code_hash=hash_binding_code("K7QM4XR2"),
                           sticker_token="kept-token-000000000001")
    return new1, new2, printed


def print_sheet(client, site, accounts, reissue=False):
    data = {"site": site.code, "account": [str(a.id) for a in accounts]}
    if reissue:
        data["reissue"] = "yes"
    return client.post("/staff/stickers", data=data)


def stickers_of(html: str) -> list[dict]:
    """The sheet's stickers: code, address, binding code and the QR's SVG."""
    found = []
    for block in re.findall(r'<article class="sticker".*?</article>', html, re.S):
        found.append(dict(code=re.search(r'data-code="([^"]+)"', block)[1],
                          url=unescape(re.search(r'data-url="([^"]+)"', block)[1]),
                          binding=re.search(r'data-testid="binding-code">([^<]+)<', block)[1],
                          svg=re.search(r"<svg.*?</svg>", block, re.S)[0], text=block))
    return found


def decode_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules an SvgPathImage path draws (one `Mx,yH..V..H..z` square each), moved to the origin."""
    squares = {(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)H", svg)}
    left, top = min(x for x, _y in squares), min(y for _x, y in squares)
    return {(x - left, y - top) for x, y in squares}


def modules_of(text: str) -> set[tuple[int, int]]:
    """The dark modules of a QR code of `text`, made independently here (the finder patterns sit at the origin)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(text)
    code.make(fit=True)
    return {(x, y) for y, row in enumerate(code.get_matrix()) for x, dark in enumerate(row) if dark}


def test_the_chooser_ticks_the_shops_without_a_code_and_says_printing_issues_new_ones(client, manager, site, shops):
    html = client.get("/staff/stickers").get_data(as_text=True)  # the manager's one site, without asking
    new1, new2, printed = shops
    assert re.search(rf'value="{new1.id}" id="shop-{new1.id}"[^>]*checked', html)
    assert re.search(rf'value="{new2.id}" id="shop-{new2.id}"[^>]*checked', html)
    assert not re.search(rf'value="{printed.id}" id="shop-{printed.id}"[^>]*checked', html)
    assert 'data-testid="reissue-notice"' in html and "新的绑定码" in html


def test_the_sheet_has_a_qr_of_each_shops_sticker_address_its_code_name_and_binding_code(client, manager, site,
                                                                                         shops):
    new1, new2, _printed = shops
    answer = print_sheet(client, site, [new1, new2])
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    got = stickers_of(html)
    assert [s["code"] for s in got] == ["A101", "A102"]
    db.session.expire_all()
    for sticker, shop in zip(got, (new1, new2)):
        account = db.session.get(Account, shop.id)
        assert sticker["url"] == public_url(f"/r/{account.sticker_token}")
        assert decode_modules(sticker["svg"]) == modules_of(sticker["url"])  # the QR reads as the address
        assert account.name in unescape(sticker["text"])
        assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", sticker["binding"])
        assert binding_code_matches(account.binding_code_hash, tidy_code(sticker["binding"]))
    assert got[0]["binding"] != got[1]["binding"]


def test_a_printed_binding_code_binds_the_shop(client, manager, site, shops, make_tenant):
    new1, *_ = shops
    [sticker] = stickers_of(print_sheet(client, site, [new1]).get_data(as_text=True))
    client.post("/auth/logout")
    tenant = make_tenant([], phone="13700009999")
    client.post("/auth/tenant/login/code", data={"phone": tenant.phone})  # any session will do: bind needs a tenant
    client.post("/auth/tenant/login/verify", data={"phone": tenant.phone, "code": sent_codes(tenant.phone)[-1]})
    answer = client.post("/auth/tenant/bind", data={"account": "A101", "binding_code": sticker["binding"].lower()})
    assert answer.status_code in (302, 303)
    db.session.expire_all()
    assert [a.code for a in db.session.merge(tenant).accounts] == ["A101"]


def test_printing_is_audited_per_shop_and_for_the_sheet(client, manager, site, shops):
    new1, new2, _ = shops
    print_sheet(client, site, [new1, new2])
    actions = [(e.action, e.actor) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions.count(("account.binding_code_issued", manager.actor)) == 2
    sheet = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "stickers.printed"))
    assert sheet.detail["shops"] == ["A101", "A102"] and sheet.site_id == site.id


def test_replacing_a_printed_code_needs_the_confirmation(client, manager, site, shops):
    *_, printed = shops
    before = printed.binding_code_hash
    refused = print_sheet(client, site, [printed])
    assert refused.status_code == 422 and 'data-testid="stickers-error"' in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Account, printed.id).binding_code_hash == before
    [sticker] = stickers_of(print_sheet(client, site, [printed], reissue=True).get_data(as_text=True))
    account = db.session.get(Account, printed.id)
    db.session.refresh(account)
    assert account.sticker_token == "kept-token-000000000001"  # the QR on the old sticker stays good
    assert not binding_code_matches(account.binding_code_hash, "K7QM4XR2")
    assert binding_code_matches(account.binding_code_hash, tidy_code(sticker["binding"]))


def test_nothing_ticked_is_refused_with_a_message(client, manager, site, shops):
    answer = print_sheet(client, site, [])
    assert answer.status_code == 422 and "请勾选" in answer.get_data(as_text=True)


def test_twelve_stickers_a_page(client, manager, site, make_account):
    for n in range(14):
        make_account(site=site, code=f"B{n:03d}")
    html = client.get("/staff/stickers").get_data(as_text=True)
    ids = re.findall(r'name="account" value="(\d+)"', html)
    answer = client.post("/staff/stickers", data={"site": site.code, "account": ids})
    pages = re.findall(r'<section class="a4".*?</section>', answer.get_data(as_text=True), re.S)
    assert [p.count('class="sticker"') for p in pages] == [12, 2]


def test_a_manager_of_another_site_gets_nothing_of_this_one(client, login, make_staff, make_site, site, shops):
    login.staff(make_staff(role=Role.MANAGER, sites=[make_site("other")]))
    assert client.get(f"/staff/stickers?site={site.code}").status_code == 404
    assert print_sheet(client, site, shops[:1]).status_code == 404
    db.session.expire_all()
    assert db.session.get(Account, shops[0].id).binding_code_hash is None


def test_shops_of_another_site_are_not_printed_on_this_ones_sheet(client, manager, site, shops, make_site,
                                                                  make_account):
    elsewhere = make_account(site=make_site("other"), code="Z1")
    html = print_sheet(client, site, [shops[0], elsewhere]).get_data(as_text=True)
    assert [s["code"] for s in stickers_of(html)] == ["A101"]
    db.session.expire_all()
    assert db.session.get(Account, elsewhere.id).binding_code_hash is None


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.CASHIER, Role.AUDITOR])
def test_roles_that_do_not_issue_binding_codes_are_refused(client, login, make_staff, site, shops, role):
    login.staff(make_staff(role=role, sites=[site]))
    assert client.get("/staff/stickers").status_code == 403
    assert print_sheet(client, site, shops[:1]).status_code == 403


def test_a_tenant_session_is_refused(client, login, make_tenant, shops):
    login.tenant(make_tenant([shops[0]]), shops[0])
    assert client.get("/staff/stickers").status_code in (302, 403)


def test_the_form_needs_its_csrf_token(client, manager, site, shops, csrf_on):
    assert print_sheet(client, site, shops[:1]).status_code == 400
    db.session.expire_all()
    assert db.session.get(Account, shops[0].id).binding_code_hash is None


def test_an_admin_chooses_the_site_first(client, login, make_staff, site, shops, make_site):
    make_site("second")
    login.staff(make_staff(role=Role.ADMIN))
    html = client.get("/staff/stickers").get_data(as_text=True)
    assert 'data-testid="choose-site"' in html and 'name="account"' not in html
    assert 'data-code="A101"' in client.get(f"/staff/stickers?site={site.code}").get_data(as_text=True)


def test_the_shops_page_links_to_the_sheets(client, manager, site, shops):
    html = client.get(f"/staff/accounts/{shops[0].code}").get_data(as_text=True)
    assert f'href="/staff/stickers?site={site.code}"' in html
