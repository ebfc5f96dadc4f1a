"""Common meters (`/staff/reports/common`): each common-area meter's use per day of the month and per month of the
last 12, as tables and stacked charts (the biggest meters by name, the rest as one), and the `common` workbook.

Read from the daily roll-ups (portal.metering.usage.meters_by_day): a site has tens to hundreds of common meters,
so a year of their days is a few hundred thousand small rows at most.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.metering.energy_report import as_number
from portal.metering.usage import Used, by_month, meters_by_day, month_days, unit, usage_text
from portal.models import Meter, MeterKind, Site
from portal.monthly.shop_energy import months_to
from portal.sheets import report_xlsx
from portal.staff.blueprint import bp
from portal.staff.report_charts import amount_unit, chart, day_labels, month_labels
from portal.staff.reports import chosen, export
from portal.web.access import require_area

#: meters drawn on their own in a chart; the others are summed into one series
CHARTED = 8
COLUMNS = ("meter", "name", "kind", "unit", "date", "usage")
COLUMNS_ZH = ("公共表", "名称", "类型", "单位", "日期", "用量")


@dataclass(frozen=True)
class CommonMeter:
    """A common-area meter with its days of the month and its last 12 months."""

    code: str
    name: str
    kind: MeterKind
    days: list[Used]
    months: list[Used]

    @property
    def month_usage(self) -> int:
        return sum(d.usage for d in self.days)


def common_meters(site: Site, month: str) -> list[CommonMeter]:
    """The site's common-area meters by code, each with its days and months."""
    first, last = month_days(month)
    year_first = month_days(months_to(month)[0])[0]
    meters = db.session.execute(select(Meter.id, Meter.code, Meter.name, Meter.kind).where(
        Meter.site_id == site.id, Meter.account_id.is_(None)).order_by(Meter.code)).all()
    days = meters_by_day(db.session, [m.id for m in meters], year_first, last)
    return [CommonMeter(m.code, m.name, MeterKind(m.kind), _from(days[m.id], first), by_month(days[m.id]))
            for m in meters]


def _from(days: list[Used], first: date) -> list[Used]:
    return [d for d in days if d.period >= first]


@bp.get("/reports/common")
@require_area("reports")
def report_common():
    """Each common meter's days and months, electricity and water apart."""
    sites, site, month = chosen()
    meters = common_meters(site, month)
    charts = {}
    for kind in MeterKind:
        of_kind = [m for m in meters if m.kind == kind]
        if of_kind:
            charts[kind.value] = {
                "days": chart(day_labels(of_kind[0].days), _series(of_kind, "days"), amount_unit(kind), stack=True),
                "months": chart(month_labels(of_kind[0].months), _series(of_kind, "months"), amount_unit(kind),
                                stack=True)}
    return render_template("staff/reports/common.html", sites=sites, site=site, month=month, meters=meters,
                           charts=charts, unit=unit, amount=usage_text,
                           day_numbers=day_labels(meters[0].days) if meters else [])


def _series(meters: list[CommonMeter], which: str) -> list[tuple[str, list[int]]]:
    """The biggest CHARTED meters of the month by code, and the others as one series."""
    biggest = sorted(meters, key=lambda m: (-m.month_usage, m.code))[:CHARTED]
    out = [(m.code, [u.usage for u in getattr(m, which)]) for m in sorted(biggest, key=lambda m: m.code)]
    rest = [m for m in meters if m not in biggest]
    if rest:
        out.append((_("Others"), [sum(col) for col in zip(*([u.usage for u in getattr(m, which)] for m in rest))]))
    return out


@export("common")
def _common_xlsx(site: Site, month: str) -> bytes:
    """One row per common meter and day of the month: the day as a date, the use as a number of kWh or m³."""
    formats = {kind: {4: "yyyy-mm-dd", 5: "0." + "0" * amount_unit(kind)[1]} for kind in MeterKind}
    return report_xlsx("common", COLUMNS, COLUMNS_ZH, (
        ([m.code, m.name, m.kind.value, unit(m.kind), d.period, as_number(d.usage, m.kind)], formats[m.kind])
        for m in common_meters(site, month) for d in m.days), widths=(12, 20, 10, 6, 12, 12))
