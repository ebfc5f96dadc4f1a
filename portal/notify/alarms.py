"""Alarms told to whom they concern (SPEC §3): an alarm opened is told once, to its shop or to its site's staff;
a meter or gateway that answers again is told to the staff when its offline alarm closes.

The callers raise and clear alarms (portal.alarms), which return the alarms opened or closed by that very call,
and hand them here in the same transaction: an alarm that was already open is no new crossing and is not told
again, and each delivery's crossing is the alarm's id. A block of code that raises alarms shop by shop (the
balance rules after a fee run) holds them in `together` and tells them set-wise when it ends.

An arrears alarm raised while a safeguard holds the shop's supply on (its data's `held`) is told as
`arrears_held`: in arrears, why supply stays on, what to pay, and no trip time.

Every alarm kind is told except a reconciliation's payment anomalies: the daily reconciliation tells its
mismatches as one message per site, platform and day (portal.payments.reconciliation); and supply_off, whose shop
is told by the poll cycle as the meter confirms it (portal.metering.supply: `supply_off`, `supply_off_by_office`,
`supply_restored`), so telling the alarm too would tell the tenant twice. A meter's failed write is an offline
alarm of its own subject (meter:<id>:write) and is told as `meter_write_failed`.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from portal.bulk import among, chunks
from portal.models import AlarmKind, Gateway, Meter, MeterState, Site
from portal.notify.params import Shop, codes, money, shops, when, word
from portal.notify.route import ShopEvent, StaffEvent, tell_shops, tell_staffs

#: the shop's event of each alarm kind that concerns a shop
TENANT = {
    AlarmKind.LOW_BALANCE_1: "low_balance_1",
    AlarmKind.LOW_BALANCE_2: "low_balance_2",
    AlarmKind.LOW_BALANCE_3: "low_balance_3",
    AlarmKind.ARREARS: "arrears",
    AlarmKind.OVER_POWER: "over_power",
}
#: the staff's event of each alarm kind for the staff (a meter's failed write, an offline alarm of its own subject,
#: is meter_write_failed)
STAFF = {
    AlarmKind.METER_OFFLINE: "meter_offline",
    AlarmKind.GATEWAY_OFFLINE: "gateway_offline",
    AlarmKind.TAMPER: "tamper",
    AlarmKind.PAYMENT_ANOMALY: "payment_anomaly",
    AlarmKind.BOOKS_MISMATCH: "books_mismatch",
}
#: kinds never told as an alarm: their crossing reaches whom it concerns by another path (supply_off: the shop,
#: by portal.metering.supply.tell_supply)
TOLD_ELSEWHERE = frozenset({AlarmKind.SUPPLY_OFF})
#: the staff's event when an alarm of the kind closes
RECOVERED = {AlarmKind.METER_OFFLINE: "meter_online", AlarmKind.GATEWAY_OFFLINE: "gateway_online"}

_HELD = "notify.alarms_held"


@contextmanager
def together(session: Session) -> Iterator[None]:
    """Tell of the alarms raised inside the block when it ends, set-wise; nothing if it fails. Nested blocks
    leave the telling to the outermost."""
    if _HELD in session.info:
        yield
        return
    held = session.info[_HELD] = []
    try:
        yield
    finally:
        session.info.pop(_HELD, None)
    tell_raised(session, held)


def tell_raised(session: Session, alarms: Sequence[Row | None]) -> int:
    """Tell whom each alarm opened now concerns (None: an alarm that was open already); deliveries queued."""
    alarms = [a for a in alarms if a is not None and a.kind not in TOLD_ELSEWHERE]
    held = session.info.get(_HELD)
    if held is not None:
        held.extend(alarms)
        return 0
    if not alarms:
        return 0
    facts = _Facts(session, alarms)
    shops, staff = [], []
    for a in alarms:
        if a.kind in TENANT:
            shop = facts.shops.get(a.account_id)
            if shop is not None and shop.open:
                shops.append(ShopEvent(shop.id, _tenant_event(a), f"alarm:{a.id}", {**shop.params(), **_tenant(a)}))
        elif a.kind in STAFF and (a.data or {}).get("what") != "reconciliation":
            staff.append(StaffEvent(a.site_id, _staff_event(a), f"alarm:{a.id}", _staff(a, facts),
                                    account_id=a.account_id, alarm_id=a.id))
    return tell_staffs(session, staff) + (tell_shops(session, shops) if shops else 0)


def tell_cleared(session: Session, alarms: Sequence[Row]) -> int:
    """Tell the staff that what an offline alarm closed now was about answers again; deliveries queued."""
    back = [a for a in alarms if a.kind in RECOVERED and not _failed_write(a)]
    if not back:
        return 0
    facts, items, seen = _Facts(session, back), [], set()
    for a in back:
        about = (a.kind, a.meter_id, a.gateway_id)
        if about in seen:  # a gateway's two alarms (not answering, a failed poll) close at once: one message
            continue
        seen.add(about)
        params = {"site": facts.site(a), "at": when(a.cleared_at)}
        if a.kind == AlarmKind.METER_OFFLINE:
            params.update(meter=facts.meter(a), shop=facts.shop_code(a))
        else:
            params.update(gateway=facts.gateway(a))
        items.append(StaffEvent(a.site_id, RECOVERED[a.kind], f"alarm:{a.id}", params,
                                account_id=a.account_id, alarm_id=a.id))
    return tell_staffs(session, items)


def _staff_event(a: Row) -> str:
    """The staff's event of an alarm: its kind's, or meter_write_failed for a write the meter did not take."""
    return "meter_write_failed" if _failed_write(a) else STAFF[a.kind]


def _failed_write(a: Row) -> bool:
    """A meter's offline alarm about a write it did not take (subject meter:<id>:write), not about its silence."""
    return a.kind == AlarmKind.METER_OFFLINE and a.subject.endswith(":write")


def _tenant_event(a: Row) -> str:
    """The shop's event of an alarm: its kind's, or arrears_held for arrears while a safeguard holds supply on."""
    return "arrears_held" if a.kind == AlarmKind.ARREARS and (a.data or {}).get("held") else TENANT[a.kind]


def _tenant(a: Row) -> dict[str, str]:
    """A shop's params of the alarm, from what the alarm recorded when it was raised."""
    data = a.data or {}
    if a.kind == AlarmKind.OVER_POWER:
        return {"meter": str(data.get("meter", "")), "watts": str(data.get("power_w", "")),
                "limit": str(data.get("limit_w", "")), "at": when(a.raised_at)}
    params = {"balance": money(data["balance_fen"])} if "balance_fen" in data else {}
    if a.kind == AlarmKind.ARREARS:
        if data.get("held"):  # no trip time: say why supply stays on
            params["why"] = word("held", data["held"])
        else:
            trip_at = data.get("trip_at")
            params["trip_at"] = when(datetime.fromisoformat(trip_at) if trip_at else a.raised_at)
        if "restore_fen" in data:
            params["restore"] = money(data["restore_fen"])
    elif "level_fen" in data:
        params["level"] = money(data["level_fen"])
    return params


def _staff(a: Row, facts: _Facts) -> dict[str, str]:
    """The staff's params of the alarm."""
    data, site = a.data or {}, facts.site(a)
    if _failed_write(a):
        return {"site": site, "meter": facts.meter(a), "shop": facts.shop_code(a),
                "write": word("write", str(data.get("write", ""))), "error": str(data.get("error") or a.message)}
    if a.kind == AlarmKind.METER_OFFLINE:
        return {"site": site, "meter": facts.meter(a), "shop": facts.shop_code(a),
                "at": when(facts.meter_seen.get(a.meter_id) or a.raised_at)}
    if a.kind == AlarmKind.GATEWAY_OFFLINE:
        return {"site": site, "gateway": facts.gateway(a),
                "at": when(facts.gateway_seen.get(a.gateway_id) or a.raised_at)}
    if a.kind == AlarmKind.TAMPER:
        return {"site": site, "meter": facts.meter(a), "shop": facts.shop_code(a),
                "detail": str(data.get("problem") or a.message)}
    if a.kind == AlarmKind.PAYMENT_ANOMALY:
        return {"site": site, "order": str(data.get("order", "")), "shop": facts.shop_code(a, common=""),
                "detail": str(data.get("why") or a.message)}
    return {"site": site, "shop": facts.shop_code(a), "ledger": money(data.get("ledger_fen", 0)),
            "meters": money(data.get("held_fen", 0) + data.get("queued_fen", 0))}


class _Facts:
    """The names the alarms' sentences need, looked up once for all of them."""

    def __init__(self, session: Session, alarms: Sequence[Row]):
        self.shops: dict[int, Shop] = shops(session, {a.account_id for a in alarms if a.account_id is not None})
        staff = [a for a in alarms if a.kind not in TENANT]  # a shop's sentence names only the shop
        self.sites = codes(session, Site, {a.site_id for a in staff})
        self.meters = codes(session, Meter, {a.meter_id for a in staff})
        self.gateways = codes(session, Gateway, {a.gateway_id for a in staff})
        offline = [a for a in staff if a.cleared_at is None]
        self.meter_seen = _seen(session, MeterState.meter_id, MeterState.last_seen_at,
                                {a.meter_id for a in offline if a.kind == AlarmKind.METER_OFFLINE})
        self.gateway_seen = _seen(session, Gateway.id, Gateway.last_seen_at,
                                  {a.gateway_id for a in offline if a.kind == AlarmKind.GATEWAY_OFFLINE})

    def site(self, a: Row) -> str:
        return self.sites.get(a.site_id, "")

    def meter(self, a: Row) -> str:
        return self.meters.get(a.meter_id) or str((a.data or {}).get("meter", ""))

    def gateway(self, a: Row) -> str:
        return self.gateways.get(a.gateway_id) or str((a.data or {}).get("gateway", ""))

    def shop_code(self, a: Row, common: str | None = None) -> str:
        """The shop's code; for an alarm about no shop (a common-area meter) the word for it, or `common`."""
        shop = self.shops.get(a.account_id)
        if shop is not None:
            return shop.code
        return word("who", "common") if common is None else common


def _seen(session: Session, key, column, ids: set) -> dict[int, datetime]:
    """{id: when it last answered} of meters or gateways (those never seen are left out)."""
    found: dict[int, datetime] = {}
    for part in chunks(sorted(i for i in ids if i is not None)):
        found.update((k, v) for k, v in session.execute(select(key, column).where(among(session, key, part)))
                     if v is not None)
    return found
