"""Energy per shop for a month (the `shops` report): what each shop used and was charged, against what it bought.

Use and charges come from the daily roll-ups (portal.metering.daily), never from the 15-minute readings: a month
of a 10,000-shop site is one grouped pass over ~300,000 roll-up rows. What a shop bought comes from the ledger's
few sparse rows (payments, counter recharges and their reversals), which the partial index on the sparse kinds
finds by date (portal.models.billing_runs.SPARSE_KINDS) without touching the dense energy charges.

Units are the readings' (0.01 kWh, litres) and money is fen. "Purchased kWh" is the month's purchases at the
shop's own average electricity price of the month (what it was charged per kWh): the kWh its money would buy.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Connectable
from sqlalchemy.orm import Session

from portal.metering.daily import posting_day
from portal.metering.usage import Used, by_month, month_days
from portal.models import Account, DailyUsage, EntryKind, LedgerEntry, Meter, MeterKind
from portal.monthly.periods import month_bounds, previous_month
from portal.snapshot import side_by_side

#: money a shop puts in: platform payments and counter recharges, net of the counter's reversals of them
PURCHASE_KINDS = (EntryKind.PAYMENT, EntryKind.CASH, EntryKind.REVERSAL)
#: how a report orders its shops: the attribute, and whether the largest comes first
SORTS = {"code": ("code", False), "electric": ("electric", True), "water": ("water", True),
         "charged": ("charged_fen", True), "purchased": ("purchased_fen", True), "net": ("net_fen", False)}


@dataclass
class ShopMonth:
    """One shop's month: use by kind (0.01 kWh, litres), the money charged for it and the money put in (fen)."""

    account_id: int
    code: str
    name: str
    electric: int = 0
    water: int = 0
    energy_fen: int = 0
    water_fen: int = 0
    purchased_fen: int = 0

    @property
    def charged_fen(self) -> int:
        """Consumed money: the electricity and water charges."""
        return self.energy_fen + self.water_fen

    @property
    def net_fen(self) -> int:
        """Purchased less consumed: negative when the shop used more than it bought this month."""
        return self.purchased_fen - self.charged_fen

    @property
    def purchased_kwh(self) -> int | None:
        """The purchases in 0.01 kWh at the month's average electricity price; None without a price (no charge)."""
        if self.energy_fen <= 0 or self.electric <= 0:
            return None
        return (2 * self.purchased_fen * self.electric + self.energy_fen) // (2 * self.energy_fen)


def shop_months(session: Session, site_id: int, month: str, tz) -> list[ShopMonth]:
    """Every shop of the site that existed by the month's end (or has figures in it), by code, with its month."""
    return _shop_months(month_bounds(month, tz)[1], *(read(session) for read in _reads(site_id, month, tz)))


def shop_months_side_by_side(bind: Connectable, site_id: int, month: str, tz) -> list[ShopMonth]:
    """`shop_months` with its three queries (the shops, their roll-ups, their purchases) side by side on
    connections of their own that share one snapshot (portal.snapshot): about as long as the roll-ups' alone.
    It sees what is committed."""
    return _shop_months(month_bounds(month, tz)[1], *side_by_side(bind, *_reads(site_id, month, tz)))


def _reads(site_id: int, month: str, tz) -> tuple[Callable[[Session], list], ...]:
    first, last = month_days(month)
    start, end = month_bounds(month, tz)
    d = DailyUsage

    def shops(session: Session) -> list:
        return session.execute(select(Account.id, Account.code, Account.name, Account.created_at)
                               .where(Account.site_id == site_id).order_by(Account.code)).all()

    def rolled_up(session: Session) -> list:
        return session.execute(
            select(d.account_id, Meter.kind, func.sum(d.usage), func.sum(d.charged_fen))
            .join(Meter, Meter.id == d.meter_id)
            .where(Meter.site_id == site_id, d.day >= first, d.day <= last, d.account_id.is_not(None))
            .group_by(d.account_id, Meter.kind)).all()

    def purchased(session: Session) -> list:
        return session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount_fen))
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(Account.site_id == site_id, LedgerEntry.created_at >= start, LedgerEntry.created_at < end,
                   LedgerEntry.kind.in_(PURCHASE_KINDS),
                   # spelled as the partial index on the sparse kinds is, so the planner need not prove it
                   LedgerEntry.kind.notin_((EntryKind.ENERGY, EntryKind.WATER)))
            .group_by(LedgerEntry.account_id)).all()

    return shops, rolled_up, purchased


def _shop_months(end: datetime, shop_rows: list, rolled_up: list, purchased: list) -> list[ShopMonth]:
    shops = {account_id: ShopMonth(account_id, code, name) for account_id, code, name, _created in shop_rows}
    opened_later = {account_id for account_id, _code, _name, created in shop_rows if created >= end}
    for account_id, kind, used, charged in rolled_up:
        shop = shops.get(account_id)
        if shop is None:  # a roll-up of a shop opened after the month (cannot happen) or of another site's shop
            continue
        if MeterKind(kind) == MeterKind.WATER:
            shop.water, shop.water_fen = int(used), int(charged)
        else:
            shop.electric, shop.energy_fen = int(used), int(charged)
    for account_id, fen in purchased:
        if account_id in shops:
            shops[account_id].purchased_fen = int(fen)
    # a shop opened after the month is left out, unless the month has figures of its (an import of old books)
    return [s for s in shops.values()
            if s.account_id not in opened_later or s.electric or s.water or s.charged_fen or s.purchased_fen]


def sort_shops(shops: list[ShopMonth], sort: str) -> list[ShopMonth]:
    """The shops in a report's order (SORTS), ties by code."""
    attribute, largest_first = SORTS[sort]
    ordered = sorted(shops, key=lambda s: s.code)
    return sorted(ordered, key=lambda s: getattr(s, attribute), reverse=largest_first)


def month_totals(shops: list[ShopMonth]) -> ShopMonth:
    """The site's shops summed (a report's last row)."""
    total = ShopMonth(0, "", "")
    for s in shops:
        total.electric += s.electric
        total.water += s.water
        total.energy_fen += s.energy_fen
        total.water_fen += s.water_fen
        total.purchased_fen += s.purchased_fen
    return total


def months_to(month: str, count: int = 12) -> list[str]:
    """The `count` months ending with `month`, oldest first."""
    months = [month]
    while len(months) < count:
        months.append(previous_month(months[-1]))
    return months[::-1]


def site_split_days(session: Session, site_id: int, first: date, last: date,
                    kind: MeterKind = MeterKind.ELECTRIC) -> dict[str, list[Used]]:
    """A site's use of one kind each day, its shops' meters and its common-area meters apart:
    {"shops": days, "common": days}. A meter is a shop's on the days the roll-up recorded it as one."""
    d = DailyUsage
    found: dict[str, dict[date, Used]] = {"shops": {}, "common": {}}
    common = d.account_id.is_(None)
    for day, is_common, used, charged in session.execute(
            select(d.day, common, func.sum(d.usage), func.sum(d.charged_fen))
            .join(Meter, Meter.id == d.meter_id)
            .where(Meter.site_id == site_id, Meter.kind == kind, d.day >= first, d.day <= last)
            .group_by(d.day, common)):
        found["common" if is_common else "shops"][day] = Used(day, int(used), int(charged))
    return {part: _every_day(days, first, last) for part, days in found.items()}


def site_split_months(session: Session, site_id: int, month: str, count: int = 12,
                      kind: MeterKind = MeterKind.ELECTRIC) -> dict[str, list[Used]]:
    """The same per month, for the `count` months ending with `month`."""
    first, _ = month_days(months_to(month, count)[0])
    days = site_split_days(session, site_id, first, month_days(month)[1], kind)
    return {part: by_month(used) for part, used in days.items()}


def purchases_by_day(session: Session, account_id: int, first: date, last: date, tz) -> dict[date, int]:
    """A shop's purchases (fen) per business day first..last, days without any left out."""
    start, end = (month_bounds(f"{first:%Y-%m}", tz)[0], month_bounds(f"{last:%Y-%m}", tz)[1])
    out: dict[date, int] = {}
    for at, fen in session.execute(
            select(LedgerEntry.created_at, LedgerEntry.amount_fen)
            .where(LedgerEntry.account_id == account_id, LedgerEntry.created_at >= start,
                   LedgerEntry.created_at < end, LedgerEntry.kind.in_(PURCHASE_KINDS))):
        day = posting_day(at, tz)
        if first <= day <= last:
            out[day] = out.get(day, 0) + int(fen)
    return out


def _every_day(days: dict[date, Used], first: date, last: date) -> list[Used]:
    span = (last - first).days + 1
    return [days.get(day) or Used(day) for day in (first + timedelta(days=n) for n in range(max(span, 0)))]
