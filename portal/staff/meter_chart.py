"""The meter page's readings chart: the last days' interval readings summed per hour, as the numbers an SVG
template draws (no chart library, no inline style: the bars are <rect>s styled by staff.css)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import IntervalReading

DAYS = 7
#: the drawing's own units (the SVG scales to its box)
WIDTH, HEIGHT, LEFT, BOTTOM = 720, 180, 0, 20


@dataclass(frozen=True)
class Bar:
    """One hour: where it is drawn, what it used (0.01 kWh or litres) and when it began."""

    x: float
    y: float
    width: float
    height: float
    used: int
    start: datetime


@dataclass(frozen=True)
class Chart:
    """The bars, the day marks (x, business date) and the largest hour, for the template."""

    bars: list[Bar]
    days: list[tuple[float, str]]
    peak: int
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    bottom: int = BOTTOM


def readings_chart(session: Session, meter_id: int, now: datetime, tz: ZoneInfo, days: int = DAYS) -> Chart:
    """What the meter used per hour over the last `days` days (validated deltas only: a tamper pair is left out)."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=days)
    hours = days * 24
    used = [0] * hours
    rows = session.execute(select(IntervalReading.interval_start, IntervalReading.delta).where(
        IntervalReading.meter_id == meter_id, IntervalReading.interval_start >= start,
        IntervalReading.interval_start < end, IntervalReading.delta.is_not(None))).all()
    for at, delta in rows:
        used[int((at - start).total_seconds() // 3600)] += max(delta, 0)
    peak = max(used) or 1
    step = WIDTH / hours
    plot = HEIGHT - BOTTOM
    bars = [Bar(x=round(i * step, 2), y=round(plot - plot * u / peak, 2), width=round(step * 0.8, 2),
                height=round(plot * u / peak, 2), used=u, start=start + timedelta(hours=i))
            for i, u in enumerate(used) if u]
    marks = []
    for i in range(hours):
        local = (start + timedelta(hours=i)).astimezone(tz)
        if local.hour == 0:
            marks.append((round(i * step, 2), local.strftime("%m-%d")))
    return Chart(bars=bars, days=marks, peak=max(used), total=sum(used))
