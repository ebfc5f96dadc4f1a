"""Replacing a meter (换表): bill the old register to its final reading, start the new one from its own.

The counter screen asks for it, but it is metering: the meter row (the shop's metering point) stays, its
readings get a final delta and a fresh baseline. In meter mode the old meter's books are closed by the
remaining amount read off it (a usage debit for what it used since its last accounted read), and the new
meter is given what the books say the old one held — a purchase backed by the ledger, never the typed
amount (money enters a meter only as a purchase backed by a ledger entry).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.alarms import raise_alarm
from portal.audit import audit
from portal.control.commands import queue_money
from portal.metering.billing import bill_deltas
from portal.metering.books import BOOKS, Usage, held, post_usage
from portal.metering.books_check import queued_net
from portal.metering.cycle import Delta
from portal.metering.daily import roll_up_readings
from portal.metering.rows import lock_buses
from portal.models import (
    Account,
    AlarmKind,
    ControlMode,
    EntryKind,
    IntervalReading,
    Meter,
    MeterKind,
    MeterState,
    utcnow,
)
from portal.models.meter import ENERGY_MAX, REMAINING_MAX_FEN, REMAINING_MIN_FEN
from portal.money import format_yuan, parse_units
from portal.notify.alarms import tell_raised


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
    #: meter mode: what the books say the old meter held, written into the new one (None: platform mode)
    carried_fen: int | None
    #: meter mode: the usage debit that closed the old meter's books
    final_usage_fen: int = 0


def replace_meter(session: Session, meter: Meter, final_total: int, new_code: str, new_start_total: int,
                  actor: str, remaining_fen: int | None = None, *, now: datetime | None = None) -> Replacement:
    """Swap the physical meter at one bus address: bill the old one to its final reading, start the new one.

    The meter row stays (it is the shop's metering point: gateway, unit id, tariff, desired state); it
    takes the new code, a fresh baseline reading and a purchase count of zero. In meter mode the remaining
    amount read off the old meter (`remaining_fen`) closes its books; the new one is given what the books
    say the old one held, never more (the money stays in the account, so only the closing usage moves it).
    `now`: when the swap happened (default: now).
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
    limit = ENERGY_MAX[meter.kind.value]
    if not (0 <= final_total <= limit and 0 <= new_start_total <= limit):
        raise SwapRefused(_l("A reading is beyond what the meter's register can show (at most %(limit)s).",
                             limit=_shown(limit, meter.kind)))
    meter_mode = meter.control_mode == ControlMode.METER
    if meter_mode and remaining_fen is None:
        raise SwapRefused(_l("Enter the remaining amount read off the old meter."))
    if meter_mode and not REMAINING_MIN_FEN <= remaining_fen <= REMAINING_MAX_FEN:
        raise SwapRefused(_l("The remaining amount is beyond what a meter can show (¥%(low)s to ¥%(high)s).",
                             low=format_yuan(REMAINING_MIN_FEN), high=format_yuan(REMAINING_MAX_FEN)))
    now = now or utcnow()
    delta = final_total - known if known is not None else 0
    readings = []
    if last is not None:
        readings.append(dict(meter_id=meter.id, interval_start=now, energy_total=final_total, delta=delta))
        session.add(IntervalReading(**readings[-1]))
        session.flush()
        if delta and meter.account_id is not None:
            bill_deltas(session, [Delta(meter.id, meter.account_id, now, delta, None)])
    # The new register starts here: the next poll's delta is measured from it, with no tamper alarm.
    readings.append(dict(meter_id=meter.id, interval_start=now + timedelta(microseconds=1),
                         energy_total=new_start_total, delta=None))
    session.add(IntervalReading(**readings[-1]))
    roll_up_readings(session, readings, {meter.id: meter.account_id})
    if state is None:
        state = MeterState(meter_id=meter.id, missed_polls=0, over_limit_reads=0, online=False)
        session.add(state)
    state.energy_total, state.energy_tou, state.supply_actual = new_start_total, None, None
    carried, used = (_close_books(session, meter, state, remaining_fen, now) if meter_mode else (None, 0))
    state.remaining_fen = state.purchase_count = state.purchase_total_fen = None
    old_code = meter.code
    meter.code, meter.purchase_count, meter.purchase_total_fen, meter.deduction_total_fen = new_code, 0, 0, 0
    for name in BOOKS:  # the new meter's books start at its first read
        setattr(meter, name, None)
    if carried:
        # writes still queued for the old meter go to the new one as they are (they are not in `carried`)
        queue_money(session, meter, carried, f"purchase:swap:{meter.id}:{now.isoformat()}", actor, "meter swap")
    audit(session, actor, "meter.replaced", "meter", meter.id, meter.site_id, old_code=old_code, new_code=new_code,
          final_total=final_total, final_delta=delta, new_start_total=new_start_total, carried_fen=carried,
          final_remaining_fen=remaining_fen, final_usage_fen=used)
    return Replacement(old_code, new_code, delta, carried, used)


def _close_books(session: Session, meter: Meter, state: MeterState, final_fen: int, now) -> tuple[int, int]:
    """Close a meter-mode meter's books by the remaining amount read off it: (what it held, the usage debit).

    What the books say it holds: its last accounted read plus the writes acknowledged since; a meter the
    books never read is taken at its last reading, else at what the ledger leaves for it. Below that, the
    difference is usage (debited); above it, the typed amount is not believed (a tamper alarm says so).
    """
    session.flush()
    books = held(meter)
    if books is None:
        books = state.remaining_fen if state.remaining_fen is not None else _ledger_share(session, meter)
    used = books - final_fen
    if used > 0:
        kind = EntryKind.WATER if meter.kind == MeterKind.WATER else EntryKind.ENERGY
        post_usage(session, [Usage(meter.id, meter.account_id, kind, used, f"usage:{meter.id}:{now.isoformat()}",
                                   f"{meter.code}: final ¥{format_yuan(books)} → ¥{format_yuan(final_fen)} (swap)")],
                   now)
        return final_fen, used
    if used < 0:
        opened = raise_alarm(
            session, AlarmKind.TAMPER, f"meter:{meter.id}:remaining", meter.site_id,
            f"{meter.code}: read ¥{format_yuan(final_fen)} off the replaced meter, ¥{format_yuan(-used)} "
            f"more than its books (¥{format_yuan(books)}); the new meter is given the books' amount",
            data=dict(what="swap_over_books", meter=meter.code, read_fen=final_fen, over_fen=-used, books_fen=books),
            meter_id=meter.id, account_id=meter.account_id)
        tell_raised(session, [opened])
    return books, 0


def books_at(meter: Meter, final_fen: int, now: datetime) -> None:
    """Stand a meter-mode meter's books at the remaining amount read off it now (an account's closure, whose
    caller has posted the usage since the last read): the writes acknowledged so far count as accounted, so
    a deduction queued next (to empty the meter) is read back as that deduction, not as usage."""
    meter.books_remaining_fen, meter.books_count, meter.books_read_at = final_fen, meter.purchase_count, now
    meter.books_net_fen = meter.purchase_total_fen - meter.deduction_total_fen


def _ledger_share(session: Session, meter: Meter) -> int:
    """What the ledger leaves for a meter-mode meter never read: the balance less what the shop's other
    meter-mode meters hold and every write still queued."""
    account = session.get(Account, meter.account_id)
    others = [m for m in account.meters if m.control_mode == ControlMode.METER]
    queued = queued_net(session, [m.id for m in others])
    return account.balance_fen - sum(queued.values()) - sum(held(m) or 0 for m in others if m.id != meter.id)


def _shown(units: int, kind: MeterKind) -> str:
    """A register limit as the meter shows it: kWh with two decimals, m³ with three."""
    places = 3 if kind == MeterKind.WATER else 2
    whole, part = divmod(units, 10 ** places)
    return f"{whole}.{part:0{places}d}"
