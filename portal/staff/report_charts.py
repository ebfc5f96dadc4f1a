"""What a report's chart shows, as the JSON static/js/charts.js draws: the labels of the x axis, the series of
stored integers (0.01 kWh, litres, fen) and where their decimal point goes. Never floats, never markup."""
from __future__ import annotations

from collections.abc import Sequence

from portal.metering.usage import UNITS, Used
from portal.models import MeterKind

#: money in fen: yuan with two decimals
YUAN = ("¥", 2)


def chart(x: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], unit: tuple[str, int], *,
          stack: bool = False, kind: str = "bar") -> dict:
    """A chart's description: one series per (name, values), stacked when `stack`."""
    return {"kind": kind, "unit": unit[0], "decimals": unit[1], "x": list(x),
            "series": [{"name": name, "data": [int(v) for v in values], **({"stack": "all"} if stack else {})}
                       for name, values in series]}


def amount_unit(kind: MeterKind) -> tuple[str, int]:
    """kWh with 2 decimals, m³ with 3."""
    return UNITS[MeterKind(kind)]


def day_labels(days: Sequence[Used]) -> list[str]:
    """The days of a month as their numbers: 01, 02..."""
    return [f"{d.period:%d}" for d in days]


def month_labels(months: Sequence[Used]) -> list[str]:
    """Months as YYYY-MM."""
    return [str(m.period) for m in months]
