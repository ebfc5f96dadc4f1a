"""The line-loss report: each master meter against the sum of its sub-meters for a month, flagged when the
loss is high or negative, and its workbook (`line-loss.xlsx`).

The figures are portal.monthly.reports.line_loss's, read off the daily roll-ups. The flag's threshold is a
constant: no site setting holds one. 5 % is where a mall's own low-voltage wiring stops explaining a loss —
cables and transformers inside a building lose one to three percent — so above it someone should look for a
meter that is wrong, a bypass or a feed that is not metered. A negative loss (the sub-meters read more than
their master) is flagged too: a wiring or meter fault.
"""
from __future__ import annotations

from decimal import Decimal

from portal.metering.energy_report import as_number
from portal.metering.usage import unit
from portal.models import MeterKind
from portal.monthly.reports import LineLoss
from portal.sheets import report_xlsx

#: a loss above this (in hundredths of a percent of the master's use) is flagged: 5.00 %
LOSS_FLAG_BP = 500
#: the sheet's columns: one row per master meter, then one per sub-meter (`meter` its code, only `usage` set)
COLUMNS = ("master", "meter", "kind", "unit", "usage", "sub_meters_usage", "loss", "loss_percent", "flag",
           "failed_readings")
COLUMNS_ZH = ("总表", "电表（总表本身或其分表）", "类型", "单位", "用量", "分表用量合计", "线损", "线损率（%）",
              "标记：high 线损偏高，negative 分表多于总表", "未通过校验的读数")


def flag(row: LineLoss, threshold_bp: int = LOSS_FLAG_BP) -> str:
    """"high" above the threshold, "negative" when the sub-meters read more than their master, else ""."""
    if row.loss < 0:
        return "negative"
    if row.loss_bp is not None and row.loss_bp > threshold_bp:
        return "high"
    return ""


def loss_percent(row: LineLoss) -> Decimal | None:
    """The loss in percent of the master's use, exact to 0.01 %; None when the master used nothing."""
    return None if row.loss_bp is None else Decimal(row.loss_bp).scaleb(-2)


def line_loss_xlsx(rows: list[LineLoss]) -> bytes:
    """The workbook: amounts as numbers in kWh (0.00) or m³ (0.000), the percent as a number (0.00)."""
    def lines():
        for r in rows:
            amount = "0.000" if r.kind == MeterKind.WATER.value else "0.00"
            kind = MeterKind(r.kind)
            yield ([r.code, r.code, r.kind, unit(kind), as_number(r.used, kind), as_number(r.subs_used, kind),
                    as_number(r.loss, kind), loss_percent(r), flag(r) or None, r.gaps],
                   {4: amount, 5: amount, 6: amount, 7: "0.00"})
            for code, _name, used in r.subs:
                yield [r.code, code, r.kind, unit(kind), as_number(used, kind)], {4: amount}
    return report_xlsx("line-loss", COLUMNS, COLUMNS_ZH, lines(), widths=(12, 12, 10, 6, 14, 14, 12, 10, 10, 10))
