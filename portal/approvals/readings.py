"""How far a meter's register can have moved: the bound on a meter swap's final reading.

A final reading is typed by a person off the old meter's display, and everything above the last reading the
platform saw is billed at once (and may cut supply). So it is refused when the meter could not have measured
it: more than the last known reading plus the meter's rated power (water: rated flow) for the hours since,
counted as at least one hour (a display read a few minutes after the last poll, clocks that differ).

The rated power is the meter's own power limit when it has one (above it the shop is tripped, so it cannot
draw more for long), otherwise the largest rating of its model, below. These are maxima on purpose: the bound
is there to stop a slipped digit (100,000 kWh instead of 1,000.00), not to judge a busy shop.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import IntervalReading, Meter, MeterKind

#: the most a meter of each profile can pass: W for electricity, L/h for water
RATED_BY_PROFILE = {
    # single-phase, 10(80) A, the DDSY1352's largest current rating, at 240 V
    "acrel-ddsy1352": 19_200,
    # three-phase direct connection, 100 A per phase at 240 V (the project's own prepaid meter)
    "payfirst-prepaid-v1": 72_000,
    # three-phase direct connection, 10(100) A at 240 V; CT-connected ones serve common areas, not shops
    "chint-dtsu666": 72_000,
    # DN40 water meter, permanent flow Q3 = 16 m³/h, the largest a shop is given
    "payfirst-water-v1": 16_000,
}
#: a profile not in the table (a new model): the largest of the kind
RATED_BY_KIND = {MeterKind.ELECTRIC: 72_000, MeterKind.WATER: 16_000}
#: the shortest time the bound allows for
MIN_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Bound:
    """The last reading the platform knows (register units: 0.01 kWh or L), when, and the most it can be now."""

    last_total: int | None
    last_at: datetime | None
    highest: int | None


def rated(meter: Meter) -> int:
    """The meter's rated power in W (water: flow in L/h): its power limit, or its model's largest rating."""
    if meter.kind == MeterKind.ELECTRIC and meter.power_limit_w:
        return meter.power_limit_w
    return RATED_BY_PROFILE.get(meter.profile, RATED_BY_KIND[meter.kind])


def last_reading(session: Session, meter: Meter) -> tuple[int | None, datetime | None]:
    """The newest register value the platform saw, and when (None, None: never read)."""
    reading = session.execute(select(IntervalReading.energy_total, IntervalReading.interval_start)
                              .where(IntervalReading.meter_id == meter.id)
                              .order_by(IntervalReading.interval_start.desc()).limit(1)).one_or_none()
    state = meter.state
    if state is not None and state.energy_total is not None and state.last_seen_at is not None and (
            reading is None or state.last_seen_at >= reading.interval_start):
        return state.energy_total, state.last_seen_at
    if reading is not None:
        return reading.energy_total, reading.interval_start
    if state is not None and state.energy_total is not None:
        return state.energy_total, meter.created_at  # a value without a time: since the meter was set up
    return None, None


def final_reading_bound(session: Session, meter: Meter, at: datetime) -> Bound:
    """The highest final reading the meter can show at `at` (None: never read, nothing to go by)."""
    total, seen = last_reading(session, meter)
    if total is None:
        return Bound(None, None, None)
    seconds = max((at - seen).total_seconds(), MIN_WINDOW.total_seconds())
    # electricity: W × s / 36,000 = 0.01 kWh (one register unit is 10 Wh); water: L/h × s / 3600 = L
    per_unit = 36_000 if meter.kind == MeterKind.ELECTRIC else 3600
    return Bound(total, seen, total + -(-int(rated(meter) * seconds) // per_unit))


def register_text(value: int, kind: MeterKind) -> str:
    """A register value as the meter shows it: kWh with 2 decimals, m³ with 3."""
    places = 3 if kind == MeterKind.WATER else 2
    whole, part = divmod(value, 10 ** places)
    return f"{whole}.{part:0{places}d}"
