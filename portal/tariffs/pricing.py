"""Pricing consumption: flat, time-of-use (尖峰平谷) and tiered (阶梯) tariffs, exactly, in integers.

Energy is 0.01 kWh (water: litres); prices are 0.0001 yuan per kWh / m³ (`*_e4`). A cost is computed in
0.00001 fen (`e5`) — the unit in which 0.01 kWh x 0.0001 yuan is a whole number (10) and so is a litre x
0.0001 yuan/m³ (1) — and only whole fen are posted; the remainder carries forward on the meter. Pricing
is linear in the quantity within each period and tier, so a month charged in many small intervals costs
exactly what the month priced at once does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

PERIODS = ("sharp", "peak", "flat", "valley")
E5_PER_UNIT = {"electric": 10, "water": 1}
FEN_E5 = 100_000


class TariffError(ValueError):
    """A tariff definition that cannot price anything (overlapping periods, unsorted tiers...)."""


@dataclass(frozen=True)
class Version:
    """One tariff version, as plain data (built from a TariffVersion row)."""

    kind: str  # flat, tou, tiered
    unit_price_e4: int
    #: tou: [(start "HH:MM", end "HH:MM", period)], covering the whole day; prices per period
    periods: tuple[tuple[str, str, str], ...] = ()
    period_prices_e4: dict | None = None
    #: tiered: [(upto units in the month or None for the last tier, price_e4)]
    tiers: tuple[tuple[int | None, int], ...] = ()
    #: tiered: the kind of meter whose units the limits count (electric: 0.01 kWh, water: litres)
    medium: str | None = None


def validate(version: Version) -> None:
    """Raise TariffError unless the version can price every moment and every quantity."""
    if version.kind == "tou":
        minutes = [0] * 1440
        for start, end, period in version.periods:
            if period not in PERIODS:
                raise TariffError(f"unknown period {period!r}")
            a, b = _minute(start), _minute(end) or 1440
            for m in (range(a, b) if a < b else [*range(a, 1440), *range(b)]):
                minutes[m] += 1
        if any(n != 1 for n in minutes):
            raise TariffError("time-of-use periods must cover the day exactly once")
        if set(version.period_prices_e4 or {}) < {p for _, _, p in version.periods}:
            raise TariffError("every period used needs a price")
    if version.kind == "tiered":
        bounds = [u for u, _ in version.tiers]
        if not bounds or bounds[-1] is not None or any(u is None for u in bounds[:-1]):
            raise TariffError("tiers need ascending limits and an open last tier")
        if bounds[:-1] != sorted(set(bounds[:-1])):
            raise TariffError("tier limits must ascend")


def _minute(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def period_at(version: Version, local: datetime) -> str:
    """The time-of-use period at a local (business time zone) moment."""
    m = local.hour * 60 + local.minute
    for start, end, period in version.periods:
        a, b = _minute(start), _minute(end) or 1440
        if (a <= m < b) if a < b else (m >= a or m < b):
            return period
    raise TariffError(f"no period covers {local.time()}")


def split_by_period(version: Version, start: datetime, end: datetime, amount: int, tz: ZoneInfo) -> dict[str, int]:
    """Share `amount` used evenly over [start, end) among the periods it crossed (largest remainder)."""
    if end <= start:
        return {period_at(version, start.astimezone(tz)): amount}
    seconds: dict[str, int] = {}
    cursor = start
    while cursor < end:
        local = cursor.astimezone(tz)
        period = period_at(version, local)
        nxt = min(end, _next_boundary(version, local).astimezone(start.tzinfo))
        seconds[period] = seconds.get(period, 0) + int((nxt - cursor).total_seconds())
        cursor = nxt
    total = sum(seconds.values())
    shares = {p: amount * s // total for p, s in seconds.items()}
    left = amount - sum(shares.values())
    for p in sorted(seconds, key=lambda p: (amount * seconds[p]) % total, reverse=True)[:left]:
        shares[p] += 1
    return shares


def _next_boundary(version: Version, local: datetime) -> datetime:
    marks = sorted({_minute(s) for s, _, _ in version.periods} | {_minute(e) % 1440 for _, e, _ in version.periods})
    m = local.hour * 60 + local.minute
    later = [x for x in marks if x > m]
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if later:
        return day + timedelta(minutes=later[0])
    return day + timedelta(days=1, minutes=marks[0])


def cost_e5(version: Version, kind: str, amount: int, *, by_period: dict[str, int] | None = None,
            month_before: int = 0) -> int:
    """The exact cost of `amount` units in 0.00001 fen."""
    scale = E5_PER_UNIT[kind]
    if version.kind == "tou":
        if by_period is None:
            raise TariffError("a time-of-use charge needs the quantity per period")
        prices = version.period_prices_e4 or {}
        return sum(q * prices[p] for p, q in by_period.items() if q) * scale
    if version.kind == "tiered":
        if version.medium not in (None, kind):
            raise TariffError(f"tier limits count {version.medium} units, not {kind}")
        return _tiered(version.tiers, month_before, amount) * scale
    return amount * version.unit_price_e4 * scale


def _tiered(tiers, before: int, amount: int) -> int:
    """Σ quantity x price over the tiers that [before, before + amount) falls into."""
    total, low = 0, 0
    for upto, price in tiers:
        high = upto if upto is not None else before + amount
        overlap = max(0, min(before + amount, high) - max(before, low))
        total += overlap * price
        low = high if upto is not None else low
    return total


def to_fen(cost: int, remainder_e5: int) -> tuple[int, int]:
    """Whole fen to post now and the sub-fen remainder to carry forward."""
    return divmod(cost + remainder_e5, FEN_E5)


def month_start(at: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant the business-time-zone month containing `at` began."""
    local = at.astimezone(tz)
    return datetime.combine(local.date().replace(day=1), time(0), tz).astimezone(at.tzinfo)
