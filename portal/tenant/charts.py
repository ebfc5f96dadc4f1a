"""A shop's use for its owner: today, this month, 30 days by day and 12 months by month, drawn as SVG bars.

Read off the daily roll-ups (portal.metering.usage, one grouped query per kind of meter the shop has, about 365
rows), never off the 15-minute readings. The charts are drawn on the server as plain SVG rectangles: no chart
library to download (the page must stay under 150 KB), nothing to run, readable by a screen reader (a title,
a description, and the figures as a table beside it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from portal.metering.daily import business_today
from portal.metering.usage import Used, account_days, by_month, unit, usage_text
from portal.models import Account, MeterKind
from portal.settings import business_tz

DAYS, MONTHS = 30, 12
#: the drawing's own units (it scales to the page's width): bars under a top line for the largest figure
WIDTH, HEIGHT, TOP, BOTTOM = 300, 120, 14, 16


@dataclass(frozen=True)
class Bar:
    """One bar of a chart, in the drawing's units, and what it says."""

    x: int
    y: int
    width: int
    height: int
    label: str
    amount: str
    charged_fen: int
    tick: bool


@dataclass(frozen=True)
class KindUsage:
    """One kind of meter of a shop (electricity or water): its use today, this month, and the two charts."""

    kind: MeterKind
    unit: str
    today: Used
    month: Used
    days: list[Used]
    months: list[Used]

    def text(self, amount: int) -> str:
        """An amount in kWh or m³, exact."""
        return usage_text(amount, self.kind)

    def daily_bars(self) -> list[Bar]:
        """The 30 days, a tick label every week (MM-DD), none so near the right edge that it would be cut."""
        return bars(self.days, self.kind, lambda d: f"{d.period:%m-%d}", lambda n: n % 7 == 0 and n <= DAYS - 6)

    def monthly_bars(self) -> list[Bar]:
        """The 12 months, each labelled with its month number."""
        return bars(self.months, self.kind, lambda m: str(int(m.period[5:])), lambda n: True)

    def peak_text(self, periods: list[Used]) -> str:
        """The largest figure of a chart, written at its top line."""
        return self.text(max((p.usage for p in periods), default=0))


def first_month(today: date, months: int = MONTHS) -> date:
    """The first day of the month `months - 1` months before today's."""
    year, month = divmod(today.year * 12 + today.month - 1 - (months - 1), 12)
    return date(year, month + 1, 1)


def shop_usage(session: Session, account: Account, today: date | None = None) -> list[KindUsage]:
    """Each kind of meter the shop has (electricity first): today, this month, 30 days and 12 months."""
    today = today or business_today()
    first = min(first_month(today), today - timedelta(days=DAYS - 1))
    kinds = sorted({m.kind for m in account.meters}, key=lambda k: k != MeterKind.ELECTRIC)
    found = []
    for kind in kinds:
        days = account_days(session, account.id, first, today, kind)
        months = [m for m in by_month(days) if m.period >= f"{first_month(today):%Y-%m}"]
        found.append(KindUsage(kind, unit(kind), days[-1], months[-1], days[-DAYS:], months))
    return found


def daily_charge_fen(usage: list[KindUsage], account: Account, today: date | None = None) -> int:
    """The shop's recent daily charge, in fen: the energy and water money of the whole days before today in the
    charts (29), over those of them it was open (at least one); integer division."""
    today = today or business_today()
    opened = account.created_at.astimezone(business_tz()).date()
    whole = DAYS - 1
    span = max(1, min(whole, (today - opened).days))
    return sum(d.charged_fen for k in usage for d in k.days[:-1][-span:]) // span


def bars(periods: list[Used], kind: MeterKind, label, tick) -> list[Bar]:
    """Bars for these periods, scaled to the largest (a period of nothing is a hairline, so the gap shows)."""
    if not periods:
        return []
    peak = max(max(p.usage for p in periods), 1)
    slot = WIDTH // len(periods)
    room = HEIGHT - TOP - BOTTOM
    out = []
    for n, p in enumerate(periods):
        height = max(p.usage, 0) * room // peak if p.usage > 0 else 0
        height = max(height, 1)
        out.append(Bar(n * slot + 1, HEIGHT - BOTTOM - height, max(slot - 2, 1), height, label(p),
                       usage_text(p.usage, kind), p.charged_fen, tick(n)))
    return out
