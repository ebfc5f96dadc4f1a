"""A meter's supply seen going off or coming back: the supply_off alarm it raises or clears, and the shop told
(SPEC §3: supply off and restore are told at any hour).

The poll cycle sees it where the relay state is confirmed: a meter read back in another state than the one
recorded, or a switch the meter acknowledged (portal.metering.cycle). Every meter's supply going off, whatever
switched it (arrears, staff, power above the limit, the meter itself), opens a supply_off alarm for the staff
(`off_alarm`), closed when it is seen on again; that alarm is told to no one (portal.notify.alarms), since the
shop hears of it here. A crossing is one shop's supply going off (or on) in one cycle, so a shop whose
electricity and water both go off at once hears it once.

Supply off for power above the limit is told by the over-power alarm's own message (portal.notify.alarms), and
a closed shop's supply going off is no news to it: neither is told here again.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from portal.control.balance import restore_level
from portal.metering.rows import MeterRow
from portal.models import AlarmKind, Site, Supply
from portal.notify.params import money, shops, when, word
from portal.notify.route import ShopEvent, tell_shops

#: reasons whose supply off is told elsewhere or to nobody
UNTOLD = ("over_power", "closure")
#: the one reason that paying undoes: any other (staff switched it off, the meter did) is for the office to undo
PAID_BACK = "arrears"


@dataclass(frozen=True)
class SupplyChange:
    """A shop meter's supply seen in a new state; `tripped_for` is the reason the meter gives for opening."""

    meter: MeterRow
    supply: Supply
    tripped_for: str | None = None


def off_reason(change: SupplyChange) -> str:
    """Why it went off: the platform's decision when it wanted it off, else what the meter says."""
    meter = change.meter
    if meter.supply_desired == Supply.OFF and meter.desired_reason:
        return meter.desired_reason
    # a meter that opened without saying why reads "none": to a person that is an unknown reason
    return change.tripped_for if change.tripped_for not in (None, "", "none") else "unknown"


def off_alarm(change: SupplyChange) -> dict:
    """The supply_off alarm of a meter seen off, as a row for portal.alarms.raise_many."""
    meter, reason = change.meter, off_reason(change)
    return dict(kind=AlarmKind.SUPPLY_OFF, subject=f"meter:{meter.id}", site_id=meter.site_id, meter_id=meter.id,
                account_id=meter.account_id, message=f"meter {meter.code} supply off ({reason})",
                data=dict(what="supply_off", meter=meter.code, reason=reason))


def tell_supply(session: Session, changes: Sequence[SupplyChange], now: datetime) -> int:
    """Tell each shop whose supply went off or came back in this cycle; deliveries queued."""
    if not changes:
        return 0
    found = shops(session, {c.meter.account_id for c in changes})
    items, crossing = {}, now.isoformat()
    for c in changes:
        shop = found.get(c.meter.account_id)
        if shop is None or not shop.open:
            continue
        if c.supply == Supply.ON:
            items[(shop.id, "supply_restored")] = ShopEvent(shop.id, "supply_restored", f"{shop.id}:{crossing}", {
                **shop.params(), "at": when(now), "balance": money(shop.balance_fen)})
            continue
        reason = off_reason(c)
        if reason in UNTOLD:
            continue
        params = {**shop.params(), "at": when(now), "reason": word("reason", reason)}
        if reason == PAID_BACK:
            event, params["restore"] = "supply_off", money(restore_level(session.get(Site, shop.site_id)))
        else:  # paying would not bring it back: the shop is told whom to call instead
            event = "supply_off_by_office"
        items.setdefault((shop.id, "supply_off"), ShopEvent(shop.id, event, f"{shop.id}:{crossing}", params))
    return tell_shops(session, list(items.values())) if items else 0
