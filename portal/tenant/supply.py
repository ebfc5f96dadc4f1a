"""What a shop owner is told about the supply: on, off and why, coming back, and what keeps it on.

A shop whose supply is off must learn what undoes it. Off for money (the platform tripped it for arrears, or a
meter-mode meter ran out): paying undoes it, and the page says how much. Off for any other reason (staff
switched it off, the power was above the limit, the account is closed): paying does not, so the page never
asks for money and says whom to call instead: the property office of the site, at its phone when the site's
rules page gives one (Site.contact_phone).

Plain rules over the account and its meters as loaded for the page (meters and states): no Flask views here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.control.balance import Safeguards, restore_level, trip_threshold
from portal.control.calendar import is_no_trip_time
from portal.models import Account, ControlMode, Meter, Supply, utcnow
from portal.models.meter import SWITCHABLE_PROFILES
from portal.settings import current

#: reasons the platform gives for wanting a meter off that paying undoes (portal.metering.supply.PAID_BACK)
PAID_BACK = ("arrears", "meter_credit")
#: when several meters are off, the reason told first: those a payment cannot undo come before money
ORDER = ("closure", "remote", "over_power", "unknown", "arrears", "meter_credit")


@dataclass(frozen=True)
class SupplyState:
    """The shop's supply as told to its owner.

    `state`: on, off, restoring (switched back on, the relay not yet read closed), unknown (never read) or
    none (no meter the platform or the meter can switch). `reason` says why it is off; `restore_fen` is what
    to pay to bring it back (off for money), or to keep it on (in arrears under a warning or a no-trip time);
    `notices` are the safeguards that hold now (keep_power, exempt, no_trip_time, warning) with `keep_until` /
    `trip_at` for the first and last; `settling`: a meter coming back is online, so the page should look again
    in a few seconds (an offline one may take hours: the slow polling does).
    """

    state: str
    reason: str | None = None
    restore_fen: int | None = None
    notices: tuple[str, ...] = ()
    keep_until: datetime | None = None
    trip_at: datetime | None = None
    settling: bool = False


def meter_supply(meter: Meter) -> tuple[str, str | None]:
    """One meter: (on | off | restoring | unknown, why off)."""
    st = meter.state
    actual = None if st is None else st.supply_actual
    if meter.control_mode == ControlMode.METER:
        if meter.supply_desired == Supply.OFF:
            return "off", meter.desired_reason or "unknown"
        if actual == Supply.OFF:  # the meter opened its own relay: its money ran out, or its limit, or staff
            tripped = st.trip_reason or ""
            if tripped == "arrears" or (st.remaining_fen is not None and st.remaining_fen <= 0):
                return "off", "meter_credit"
            return "off", tripped if tripped in ("remote", "over_power") else "unknown"
        return ("unknown" if actual is None else "on"), None
    if meter.supply_desired == Supply.OFF:
        return "off", meter.desired_reason or "unknown"
    if actual is None:
        return "unknown", None
    return ("on" if actual == Supply.ON else "restoring"), None


def switched(account: Account) -> list[Meter]:
    """The shop's meters whose supply can go off: a relay or valve, in either mode."""
    return [m for m in account.meters if m.profile in SWITCHABLE_PROFILES or m.control_mode == ControlMode.METER]


def restore_payment(account: Account, reason: str, meters: list[Meter]) -> int:
    """What a payment must be to bring the supply back, in fen: money in repays emergency credit and fee arrears
    first (portal.control.emergency.repay_first), then must lift the balance to the restore level R
    (portal.control.balance.restore_level); a meter-mode meter needs its remaining amount above zero."""
    debts = account.emergency_owed_fen + account.fee_arrears_fen
    if reason == "meter_credit":
        remaining = min((m.state.remaining_fen or 0) for m in meters if m.state is not None)
        need = 1 - remaining + account.fee_arrears_fen
    else:
        need = restore_level(account.site) - account.balance_fen + debts
    return max(need, current().payments.min_fen)


def supply_state(account: Account, now: datetime | None = None) -> SupplyState:
    """The shop's supply as told to its owner, from its meters (loaded with their states)."""
    meters = switched(account)
    if not meters:
        return SupplyState("none")
    seen = [(m, *meter_supply(m)) for m in meters]
    off = [(m, why) for m, state, why in seen if state == "off"]
    notices, keep_until, trip_at = _safeguards(account, meters, now or utcnow())
    if off:
        reason = min((why for _m, why in off), key=lambda r: ORDER.index(r) if r in ORDER else 0)
        paying = None
        if reason in PAID_BACK:
            paying = restore_payment(account, reason, [m for m, why in off if why == reason])
        return SupplyState("off", reason, paying, notices, keep_until)
    states = {state for _m, state, _why in seen}
    state = "restoring" if "restoring" in states else ("unknown" if "unknown" in states else "on")
    # in arrears and still on (a warning, a no-trip time): what to pay before it goes off
    paying = restore_payment(account, "arrears", meters) if {"warning", "no_trip_time"} & set(notices) else None
    settling = any(state == "restoring" and m.state.online for m, state, _why in seen)
    return SupplyState(state, None, paying, notices, keep_until, trip_at, settling)


def _safeguards(account: Account, meters: list[Meter], now: datetime):
    """The safeguards to tell about: keep-power and exemption always; a no-trip time or the warning period only
    when they are what keeps a shop in arrears on (the calendar is not read for a shop in credit)."""
    notices, keep_until, trip_at = [], None, None
    kept = [m for m in meters if m.keep_power]
    if kept:
        notices.append("keep_power")
        ends = [m.keep_power_until for m in kept if m.keep_power_until is not None]
        keep_until = min(ends) if len(ends) == len(kept) else None
    if account.exempt:
        notices.append("exempt")
    if account.balance_fen <= trip_threshold(account.site) and not kept and not account.exempt:
        if is_no_trip_time(account.site, now):
            notices.append("no_trip_time")
        else:
            ends = Safeguards(account, now).warning_ends()
            if ends is not None and ends > now:
                notices.append("warning")
                trip_at = ends
    return tuple(notices), keep_until, trip_at
