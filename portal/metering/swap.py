"""Replacing a meter (换表): bill the old register to its final reading, start the new one from its own.

The counter screen asks for it, but it is metering: the meter row (the shop's metering point) stays, its
readings get a final delta and a fresh baseline, and a meter-mode meter gets its remaining money written
into the new one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.control.commands import queue_purchase
from portal.metering.billing import bill_deltas
from portal.metering.cycle import Delta
from portal.metering.rows import lock_buses
from portal.models import ControlMode, IntervalReading, Meter, MeterKind, MeterState, utcnow
from portal.money import parse_units


class SwapRefused(Exception):
    """A swap that cannot be recorded; the message (translatable) is for the person at the counter."""


def parse_reading(text: str | None, kind: MeterKind) -> int:
    """A register reading as the meter shows it (kWh with 2 decimals, m³ with 3) in stored units (0.01 kWh, L)."""
    return parse_units(text, 3 if kind == MeterKind.WATER else 2, digits=12)


@dataclass(frozen=True)
class Replacement:
    """What a meter swap recorded."""

    old_code: str
    new_code: str
    final_delta: int
    carried_fen: int | None


def replace_meter(session: Session, meter: Meter, final_total: int, new_code: str, new_start_total: int,
                  actor: str, remaining_fen: int | None = None) -> Replacement:
    """Swap the physical meter at one bus address: bill the old one to its final reading, start the new one.

    The meter row stays (it is the shop's metering point: gateway, unit id, tariff, desired state); it
    takes the new code, a fresh baseline reading and a purchase count of zero. In meter mode the
    remaining amount read off the old meter is written into the new one as a purchase — the money never
    leaves the account, so the ledger does not move.
    """
    new_code = (new_code or "").strip()
    if not new_code or len(new_code) > 32:
        raise SwapRefused(_l("Enter the new meter's code."))
    if new_code != meter.code and session.scalar(select(Meter.id).where(Meter.site_id == meter.site_id,
                                                                        Meter.code == new_code)):
        raise SwapRefused(_l("Meter code %(code)s is already in use at this site.", code=new_code))
    lock_buses(session, [meter.gateway_id])  # a poll cycle in flight would bill the old register again
    last = session.scalar(select(IntervalReading).where(IntervalReading.meter_id == meter.id)
                          .order_by(IntervalReading.interval_start.desc()).limit(1))
    state = meter.state
    known = last.energy_total if last is not None else (state.energy_total if state else None)
    if known is not None and final_total < known:
        raise SwapRefused(_l("The final reading is below the last recorded one."))
    if meter.control_mode == ControlMode.METER and (remaining_fen is None or remaining_fen < 0):
        raise SwapRefused(_l("Enter the remaining amount read off the old meter."))
    now = utcnow()
    delta = final_total - known if known is not None else 0
    if last is not None:
        session.add(IntervalReading(meter_id=meter.id, interval_start=now, energy_total=final_total, delta=delta))
        session.flush()
        if delta and meter.account_id is not None:
            bill_deltas(session, [Delta(meter.id, meter.account_id, now, delta, None)])
    # The new register starts here: the next poll's delta is measured from it, with no tamper alarm.
    session.add(IntervalReading(meter_id=meter.id, interval_start=now + timedelta(microseconds=1),
                                energy_total=new_start_total, delta=None))
    if state is None:
        state = MeterState(meter_id=meter.id, missed_polls=0, over_limit_reads=0, online=False)
        session.add(state)
    state.energy_total, state.energy_tou, state.supply_actual = new_start_total, None, None
    state.remaining_fen = state.purchase_count = state.purchase_total_fen = None
    old_code = meter.code
    meter.code, meter.purchase_count, meter.purchase_total_fen = new_code, 0, 0
    carried = None
    if meter.control_mode == ControlMode.METER:
        carried = remaining_fen
        if remaining_fen:
            queue_purchase(session, meter, remaining_fen, f"purchase:swap:{meter.id}:{now.isoformat()}", actor)
    audit(session, actor, "meter.replaced", "meter", meter.id, meter.site_id, old_code=old_code, new_code=new_code,
          final_total=final_total, final_delta=delta, new_start_total=new_start_total, carried_fen=carried)
    return Replacement(old_code, new_code, delta, carried)
