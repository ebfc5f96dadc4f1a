"""The tenant's history shows every kind of entry with its amount and what explains it: payments with their
e-receipts, energy and water per day (off the daily roll-ups), fees with their basis, the common-area share with
its breakdown (公示), reversals and refunds; and it filters by month and by kind."""
from __future__ import annotations

import re
from datetime import date

import pytest

from portal.models import EntryKind
from portal.monthly.fees import fee_for
from tests.tenant.history_books import at, books, last_month, this_month

HX = {"HX-Request": "true"}


@pytest.fixture
def shop(books, client, login):
    login.tenant(books.tenant, books.account)
    return books


def rows(html: str, kind: str) -> list[str]:
    """The history's rows of one kind, each as its HTML."""
    return re.findall(rf'<div class="weui-cell entry[^"]*" data-kind="{kind}".*?</span>\s*</div>', html, re.S)


def month_page(client, shop, month, **params) -> str:
    query = "&".join([f"month={month:%Y-%m}", *(f"{k}={v}" for k, v in params.items())])
    res = client.get(f"/t/a/{shop.account.id}/history?{query}")
    assert res.status_code == 200
    return res.get_data(as_text=True)


def test_a_payment_is_listed_with_its_amount_and_a_link_to_its_receipt(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    (row,) = rows(month_page(client, shop, last_month()), "payment")
    assert "+¥200.00" in row
    assert f'href="/t/a/{shop.account.id}/receipts/{entry.id}"' in row


def test_a_counter_recharge_is_listed_with_its_receipt(client, shop):
    entry = shop.cash(5_000, at(last_month(), 10))
    (row,) = rows(month_page(client, shop, last_month()), "cash")
    assert "+¥50.00" in row and f"/receipts/{entry.id}" in row


def test_energy_and_water_are_shown_per_day_from_the_daily_roll_ups(client, shop):
    day = last_month().replace(day=3)
    shop.used(day, usage=1_234, charged_fen=987)                 # 12.34 kWh, ¥9.87
    shop.used(day.replace(day=4), usage=2_000, charged_fen=1_600)
    shop.used(day, usage=1_500, charged_fen=750, water=True)     # 1.500 m³, ¥7.50
    html = month_page(client, shop, last_month())
    energy = rows(html, "energy")
    assert len(energy) == 2
    third = next(r for r in energy if f'data-day="{day.isoformat()}"' in r)
    assert "12.34 kWh" in third and "¥-9.87" in third
    (water,) = rows(html, "water")
    assert "1.500 m³" in water and "¥-7.50" in water


def test_energy_charges_in_the_ledger_without_a_roll_up_are_not_read_one_by_one(client, shop):
    """The history never sums the month's thousands of quarter-hour charges: the roll-ups hold their days."""
    shop.post(EntryKind.ENERGY, -125, at(last_month(), 8), meter_id=shop.meter.id)
    assert rows(month_page(client, shop, last_month()), "energy") == []


def test_a_property_fee_shows_its_basis_and_the_part_left_as_arrears(client, shop):
    month = f"{last_month():%Y-%m}"
    shop.fee(30_000, month, at(last_month(), 1), arrears_fen=25_000)
    (row,) = rows(month_page(client, shop, last_month()), "fee")
    assert "¥-300.00" in row
    assert "面积 120.50 m² × 单价 ¥5.0000/m²" in row and month in row
    assert "area" not in row  # the basis in the page's language, not as the fee run stored it
    assert "¥250.00" in row and "¥550.00" in row  # left as arrears, of the whole fee
    en = client.get(f"/t/a/{shop.account.id}/history?month={month}", headers={"Accept-Language": "en"})
    (en_row,) = rows(en.get_data(as_text=True), "fee")
    assert "120.50 m² × ¥5.0000 per m²" in en_row


def test_a_fixed_fee_says_so_and_a_basis_it_cannot_read_is_shown_as_stored(client, shop):
    shop.fee(30_000, "2026-01", at(date(2026, 1, 1), 1), basis=fee_for(0, None, 30_000)[1])
    shop.fee(20_000, "2026-02", at(date(2026, 2, 1), 1), basis="agreed with the landlord")
    (fixed,) = rows(month_page(client, shop, date(2026, 1, 1)), "fee")
    (other,) = rows(month_page(client, shop, date(2026, 2, 1)), "fee")
    assert "固定金额" in fixed and "fixed" not in fixed
    assert "agreed with the landlord" in other


def test_a_common_area_share_shows_its_breakdown(client, shop):
    period = f"{last_month():%Y-%m}"
    shop.allocation(24_100, period, at(last_month(), 2))
    (row,) = rows(month_page(client, shop, last_month()), "allocation")
    assert "¥-241.00" in row
    assert "C-LIFT" in row and "1,000.00 kWh" in row and "C-HALL" in row and "500.00 kWh" in row
    assert "1,500.00 kWh × ¥0.8000 = ¥1200.00" in row.replace("¥1,200.00", "¥1200.00")
    assert "120.50 m² / 600.00 m²" in row and "(20.08%)" in row and "= ¥241.00" in row


def test_a_reversal_names_the_entry_it_corrects(client, shop):
    original = shop.cash(8_000, at(last_month(), 10))
    shop.reversal(original, at(last_month(), 11))
    (row,) = rows(month_page(client, shop, last_month()), "reversal")
    assert "¥-80.00" in row and "¥80.00" in row.replace("¥-80.00", "")
    assert "wrong shop" in row


def test_a_refund_is_listed_with_its_amount(client, shop):
    shop.payment(10_000, at(last_month(), 9))
    shop.refund(4_000, at(last_month(), 15))
    (row,) = rows(month_page(client, shop, last_month()), "refund")
    assert "¥-40.00" in row


def test_the_month_head_sums_money_in_and_everything_used(client, shop):
    shop.payment(20_000, at(last_month(), 9))
    shop.fee(3_000, f"{last_month():%Y-%m}", at(last_month(), 1))
    shop.used(last_month().replace(day=5), usage=1_000, charged_fen=800)
    html = month_page(client, shop, last_month())
    assert re.search(r"¥200\.00 · \S+ ¥38\.00", html)


def test_a_chosen_month_is_shown_alone(client, shop):
    shop.cash(1_100, at(this_month(), 0, 30))
    shop.cash(2_200, at(last_month(), 10))
    html = month_page(client, shop, last_month())
    assert "+¥22.00" in html and "+¥11.00" not in html
    assert 'id="history-more"' not in html
    assert f'id="history-{last_month():%Y-%m}"' in html


def test_without_a_month_the_history_starts_this_month_and_scrolls_back(client, shop):
    shop.cash(1_100, at(this_month(), 0, 30))
    shop.cash(2_200, at(last_month(), 10))
    html = client.get(f"/t/a/{shop.account.id}/history", headers=HX).get_data(as_text=True)
    assert "+¥11.00" in html and "+¥22.00" not in html
    older = re.search(r'id="history-more"[^>]*hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "+¥22.00" in client.get(older, headers=HX).get_data(as_text=True)


@pytest.mark.parametrize("kind, shown", [("payments", {"payment", "cash"}), ("energy", {"energy", "water"}),
                                         ("fees", {"fee"}), ("allocation", {"allocation"}),
                                         ("refunds", {"reversal", "refund"})])
def test_the_kind_filter_shows_only_that_kind(client, shop, kind, shown):
    month = last_month()
    paid = shop.payment(10_000, at(month, 9))
    shop.cash(5_000, at(month, 9, 30))
    shop.fee(3_000, f"{month:%Y-%m}", at(month, 1))
    shop.allocation(2_000, f"{month:%Y-%m}", at(month, 2))
    shop.reversal(paid, at(month, 20))
    shop.refund(1_000, at(month, 21))
    shop.used(month.replace(day=6), usage=500, charged_fen=400)
    shop.used(month.replace(day=6), usage=300, charged_fen=200, water=True)
    html = month_page(client, shop, month, kind=kind)
    assert set(re.findall(r'class="weui-cell entry[^"]*" data-kind="(\w+)"', html)) == shown


def test_the_kind_filter_is_kept_as_the_tenant_scrolls(client, shop):
    html = client.get(f"/t/a/{shop.account.id}/history?kind=fees", headers=HX).get_data(as_text=True)
    assert re.search(r'id="history-more"[^>]*hx-get="[^"]*kind=fees"', html)


def test_an_unknown_kind_is_400(client, shop):
    assert client.get(f"/t/a/{shop.account.id}/history?kind=bribes").status_code == 400


def test_the_filter_offers_the_months_since_the_shop_opened(client, shop):
    html = client.get(f"/t/a/{shop.account.id}/history").get_data(as_text=True)
    months = re.findall(r'<option value="(\d{4}-\d{2})"', html)
    assert months[0] == f"{this_month():%Y-%m}" and f"{last_month():%Y-%m}" in months
    assert 4 <= len(months) <= 6


def test_another_tenants_history_is_404(client, shop, make_account, make_tenant):
    other = make_account(code="H200")
    make_tenant([other])
    assert client.get(f"/t/a/{other.id}/history?kind=payments").status_code == 404


def test_the_history_is_chinese_by_default_and_english_on_request(client, shop):
    shop.fee(3_000, f"{last_month():%Y-%m}", at(last_month(), 1))
    zh = month_page(client, shop, last_month())
    assert "物业费" in zh and "全部月份" in zh
    en = client.get(f"/t/a/{shop.account.id}/history?month={last_month():%Y-%m}",
                    headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Property fee" in en and "All months" in en
