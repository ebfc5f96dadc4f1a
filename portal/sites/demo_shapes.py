"""How the demo mall's meters use energy: each trade's day shape, its week, the holidays and the summer.

Pure functions of a meter's trade, a day and a seeded random source, so the demo's year is the same on every
machine. Units are the meters' own: 0.01 kWh per 15 minutes, litres for water. Each shape is 24 hourly levels in
per-mille of the meter's peak; a quarter-hour takes its hour's level with a little noise, and a cold store's
compressor cycles on and off around the clock instead.

- restaurant: a lunch peak (11:00-13:00) and a higher dinner peak (17:00-20:00), kitchen prep before each;
- retail: open 10:00-22:00, busiest in the evening, busier at weekends and on holidays;
- cold storage: flat day and night, the compressor running about half the time (more in summer);
- common lighting: low by day, full from dusk to closing, a night level after;
- common escalators and lifts: by the mall's opening hours only;
- water (the restaurants' taps): the kitchen's prep and service hours.

Chinese public holidays (国务院办公厅 notices for 2025 and 2026) make retail and restaurants busier, except the
Spring Festival week, when the mall is quieter; June to September adds air conditioning to everything but the
cold stores, which just work harder.
"""
from __future__ import annotations

import random
from datetime import date

#: per-mille of the peak per local hour
SHAPES: dict[str, tuple[int, ...]] = {
    "restaurant": (40, 40, 40, 40, 40, 40, 40, 60, 120, 250, 450, 900, 1000, 700, 350, 300, 550, 950, 1000, 900,
                   600, 300, 120, 60),
    "retail": (30, 30, 30, 30, 30, 30, 30, 30, 40, 250, 750, 800, 800, 780, 760, 760, 780, 850, 950, 1000, 1000,
               900, 350, 40),
    "cold_storage": (1000,) * 24,
    "lighting": (300, 300, 300, 300, 300, 300, 350, 300, 250, 250, 250, 250, 250, 250, 250, 250, 300, 600, 1000,
                 1000, 1000, 1000, 900, 450),
    "escalator": (0, 0, 0, 0, 0, 0, 0, 0, 0, 400, 900, 900, 1000, 1000, 900, 900, 900, 950, 1000, 1000, 1000,
                  950, 300, 0),
    "water": (0, 0, 0, 0, 0, 0, 0, 50, 300, 500, 700, 1000, 1000, 500, 200, 300, 700, 1000, 1000, 800, 500, 300,
              100, 0),
}
#: what a weekend day does to each trade
WEEKEND = {"restaurant": 1.2, "retail": 1.35, "cold_storage": 1.0, "lighting": 1.0, "escalator": 1.25, "water": 1.2}
#: public holidays (Spring Festival apart: SPRING_FESTIVAL)
HOLIDAY = {"restaurant": 1.3, "retail": 1.4, "cold_storage": 1.0, "lighting": 1.0, "escalator": 1.3, "water": 1.3}
SPRING_FESTIVAL = {"restaurant": 0.6, "retail": 0.45, "cold_storage": 0.9, "lighting": 0.7, "escalator": 0.5,
                   "water": 0.6}
#: air conditioning, June to September (cold stores: the compressor runs longer)
SUMMER = {6: 1.25, 7: 1.45, 8: 1.5, 9: 1.2}
#: peak load of a shop per m², W, before the summer adds to it; and the ceiling (the shops' power limit is 10 kW)
WATTS_PER_M2 = {"restaurant": 90, "retail": 45, "cold_storage": 70}
MAX_PEAK_W = 6_500
#: common meters' peaks, W; a restaurant's taps at full flow, litres per hour
COMMON_PEAK_W = {"lighting": 2_000, "escalator": 3_500}
WATER_PEAK_LPH = 260


def _span(first: str, last: str) -> set[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return {date.fromordinal(n) for n in range(a.toordinal(), b.toordinal() + 1)}


SPRING_DAYS = _span("2025-01-28", "2025-02-04") | _span("2026-02-15", "2026-02-23")
HOLIDAYS = (SPRING_DAYS | {date(2025, 1, 1), date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)}
            | _span("2025-04-04", "2025-04-06") | _span("2025-05-01", "2025-05-05")
            | _span("2025-05-31", "2025-06-02") | _span("2025-10-01", "2025-10-08")
            | _span("2026-04-04", "2026-04-06") | _span("2026-05-01", "2026-05-05")
            | _span("2026-06-19", "2026-06-21") | _span("2026-09-25", "2026-09-27")
            | _span("2026-10-01", "2026-10-07"))


def shop_trade(n: int) -> str:
    """The trade of shop n (1-based): every tenth a restaurant (S001 among them), six cold stores, the rest retail."""
    if n % 10 == 1:
        return "restaurant"
    if n % 50 == 25:
        return "cold_storage"
    return "retail"


def common_trade(c: int) -> str:
    """Common meter c (1-based) of a floor: lighting, or escalators and lifts."""
    return "lighting" if c <= 6 else "escalator"


def shop_peak_w(trade: str, area_m2: int) -> int:
    """A shop's busiest-hour load."""
    return min(WATTS_PER_M2[trade] * area_m2, MAX_PEAK_W)


def day_factor(trade: str, day: date) -> float:
    """Weekend, holiday, Spring Festival and summer together, for one trade on one day."""
    if day in SPRING_DAYS:
        factor = SPRING_FESTIVAL[trade]
    elif day in HOLIDAYS:
        factor = HOLIDAY[trade]
    elif day.weekday() >= 5:
        factor = WEEKEND[trade]
    else:
        factor = 1.0
    return factor * SUMMER.get(day.month, 1.0) ** (0.5 if trade == "cold_storage" else 1.0)


def quarter_hours(trade: str, peak: int, day: date, rng: random.Random) -> list[int]:
    """The day's 96 quarter-hour amounts, local 00:00-00:15 first: 0.01 kWh for a peak in W, litres for L/h."""
    factor = day_factor(trade, day)
    # peak (W or L/h) x per-mille x 0.25 h: in 0.01 kWh that is peak x mille / 40,000 (W·h / 10); water /4,000
    scale = peak * factor / (4_000 if trade == "water" else 40_000)
    rand = rng.random
    if trade == "cold_storage":
        duty = min(0.45 * factor, 0.95)
        return [int(scale * 1000 * (0.9 + 0.2 * rand())) if rand() < duty else int(scale * 60) for _ in range(96)]
    shape = SHAPES[trade]
    return [int(scale * shape[q >> 2] * (0.8 + 0.4 * rand()) + rand()) for q in range(96)]
