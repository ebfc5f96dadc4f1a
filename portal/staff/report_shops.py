"""Energy per shop (`/staff/reports/shops`): each shop's month — kWh and m³ used, the money charged for them, what it
bought — sortable and paged, with the site's days (shops and common areas stacked) and its last 12 months
(`/staff/reports/months`, which the page asks for once it has loaded); and one shop's month and year
(`/staff/reports/shops/<code>`).

All of it from the daily roll-ups and the ledger's sparse rows (portal.monthly.shop_energy), so a site of 10,000
shops answers within SPEC §5's 2 s. The `shops` workbook has every shop.
"""
from __future__ import annotations

from flask import abort, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.metering.energy_report import as_number
from portal.metering.usage import Used, account_days, by_month, month_days, usage_text
from portal.models import Account, MeterKind, Site
from portal.monthly.shop_energy import (
    SORTS,
    month_totals,
    months_to,
    purchases_by_day,
    shop_months,
    shop_months_side_by_side,
    site_split_days,
    site_split_months,
    sort_shops,
)
from portal.settings import business_tz
from portal.sheets import report_xlsx, yuan_number
from portal.staff.blueprint import bp
from portal.staff.report_charts import YUAN, amount_unit, chart, day_labels, month_labels
from portal.staff.reports import chosen, export
from portal.web.access import require_area
from portal.web.htmx import render
from portal.web.params import one_of, page_arg, query_arg

PAGE_SIZE = 50
#: the `shops` workbook: its columns and their Chinese notes
COLUMNS = ("account", "name", "electricity_kwh", "water_m3", "energy_yuan", "water_yuan", "purchased_yuan",
           "purchased_kwh")
COLUMNS_ZH = ("商户", "名称", "用电量（kWh）", "用水量（m³）", "电费（元）", "水费（元）",
              "购电金额（元，缴费与充值，扣除冲正）", "购电量（kWh，按本月平均电价）")


@bp.get("/reports/shops")
@require_area("reports")
def report_shops():
    """The month's shops, a page at a time in the order asked (?sort=), the site's days as a chart."""
    sites, site, month = chosen()
    sort = query_arg("sort", one_of(SORTS), "code")
    page = page_arg()
    shops = shop_months(db.session, site.id, month, business_tz())
    pages = max((len(shops) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    rows = sort_shops(shops, sort)[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    first, last = month_days(month)
    split = site_split_days(db.session, site.id, first, last)
    days = chart(day_labels(split["shops"]), [(_("Shops"), [d.usage for d in split["shops"]]),
                                              (_("Common areas"), [d.usage for d in split["common"]])],
                 amount_unit(MeterKind.ELECTRIC), stack=True)
    return render("staff/reports/shops.html", "staff/reports/_shops_table.html", sites=sites, site=site,
                  month=month, rows=rows, total=month_totals(shops), count=len(shops), sort=sort, sorts=SORTS,
                  page=page, pages=pages, days_chart=days, amount=usage_text)


@bp.get("/reports/months")
@require_area("reports")
def report_months():
    """The site's last 12 months of electricity, shops and common areas stacked (the shops page asks for it once
    it has loaded; on its own, a page)."""
    sites, site, month = chosen()
    split = site_split_months(db.session, site.id, month)
    months = months_chart(split["shops"], split["common"])
    return render("staff/reports/months.html", "staff/reports/_months.html", sites=sites, site=site, month=month,
                  months=list(zip(split["shops"], split["common"])), months_chart=months,
                  amount=usage_text)


def months_chart(shops: list[Used], common: list[Used]) -> dict:
    """Twelve months of kWh, shops and common areas stacked."""
    return chart(month_labels(shops), [(_("Shops"), [m.usage for m in shops]),
                                       (_("Common areas"), [m.usage for m in common])],
                 amount_unit(MeterKind.ELECTRIC), stack=True)


@bp.get("/reports/shops/<code>")
@require_area("reports")
def report_shop(code: str):
    """One shop of the chosen site: its days of the month and its last 12 months, as charts and tables."""
    sites, site, month = chosen()
    shop = db.session.scalar(select(Account).where(Account.site_id == site.id, Account.code == code))
    if shop is None:
        abort(404)
    tz = business_tz()
    first, last = month_days(month)
    year_first = month_days(months_to(month)[0])[0]
    electric = account_days(db.session, shop.id, year_first, last, MeterKind.ELECTRIC)
    water = account_days(db.session, shop.id, year_first, last, MeterKind.WATER)
    bought = purchases_by_day(db.session, shop.id, year_first, last, tz)
    in_month = slice(len(electric) - ((last - first).days + 1), None)
    days = [(e, w, bought.get(e.period, 0)) for e, w in zip(electric[in_month], water[in_month])]
    months = [(e, w, sum(fen for day, fen in bought.items() if f"{day:%Y-%m}" == e.period))
              for e, w in zip(by_month(electric), by_month(water))]
    has_water = any(w.usage or w.charged_fen for _e, w, _b in months)
    return render_template(
        "staff/reports/shop.html", sites=sites, site=site, month=month, shop=shop, days=days, months=months,
        has_water=has_water, amount=usage_text, charts=_shop_charts(days, months, has_water))


def _shop_charts(days, months, has_water: bool) -> dict[str, dict]:
    """The shop's use per day and per month (kWh; m³ apart) and its money per day and per month."""
    out = {}
    for key, rows, labels in (("days", days, day_labels([e for e, _w, _b in days])),
                              ("months", months, month_labels([e for e, _w, _b in months]))):
        out[f"{key}_kwh"] = chart(labels, [(_("Electricity"), [e.usage for e, _w, _b in rows])],
                                  amount_unit(MeterKind.ELECTRIC))
        if has_water:
            out[f"{key}_m3"] = chart(labels, [(_("Water"), [w.usage for _e, w, _b in rows])],
                                     amount_unit(MeterKind.WATER))
        out[f"{key}_money"] = chart(labels, [(_("Electricity charged"), [e.charged_fen for e, _w, _b in rows]),
                                             (_("Water charged"), [w.charged_fen for _e, w, _b in rows]),
                                             (_("Purchased"), [b for _e, _w, b in rows])], YUAN)
    return out


@export("shops")
def _shops_xlsx(site: Site, month: str) -> bytes:
    """Every shop of the month by code: use as kWh and m³, money as yuan, all numbers; codes and names as text.
    Consumed money (electricity + water) and purchased less consumed are the page's sums of these columns, left to
    the spreadsheet: 10,000 rows of two more cells each would cost the export a fifth of its time. Its three
    queries run side by side (they see what is committed)."""
    shops = shop_months_side_by_side(db.session.get_bind(), site.id, month, business_tz())
    kwh, m3, money, electric, water = "0.00", "0.000", "0.00", MeterKind.ELECTRIC, MeterKind.WATER
    formats = {2: kwh, 3: m3, 4: money, 5: money, 6: money, 7: kwh}
    return report_xlsx("shops", COLUMNS, COLUMNS_ZH, (
        ([s.code, s.name, as_number(s.electric, electric), as_number(s.water, water), yuan_number(s.energy_fen),
          yuan_number(s.water_fen), yuan_number(s.purchased_fen), as_number(s.purchased_kwh, electric)], formats)
        for s in shops), widths=(12, 20, 14, 12, 12, 12, 14, 14))
