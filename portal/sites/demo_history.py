"""A year of the demo mall, backfilled once by `demo seed`: readings, the money they imply, and their days.

Without it a newcomer sees empty charts, no days left and no usage. With it every demo meter has 15-minute
readings for the last `days` days up to the last quarter-hour before now (portal.sites.demo_shapes: each trade's
day, weekends, holidays, the summer), and the shops the money those readings imply (portal.sites.demo_money):
energy and water charges, payments by WeChat Pay, Alipay and cash, property fees, the common areas allocated,
cut-offs and restores; and every meter's days (daily_usage), so reports and usage charts have the whole year.
The days are written from the history's own totals, counted as portal.metering.daily counts them: rebuilding
them from the table (`rebuild_daily`) gives the same rows (the tests hold it) but reads the year back, which
takes minutes on SQLite.

**Where the money starts.** The history begins at the workbook's opening balances: the mall moved to PayFirst a
year ago, so each opening is posted at the history's first instant, under the importer's own key
(`opening:<site>:<shop>`); `demo seed` imports the workbook without them the first time, and every later import
of the full workbook finds them posted with the same amounts and changes nothing. Each balance today is where
its year took it, and equals the sum of its entries (`ledger check`).

**Written set-wise.** The readings go in per shop (SQLite: the driver's executemany of plain tuples, with the
timestamps converted once by the column's own type; PostgreSQL: one INSERT ... SELECT unnest per batch), with
`delta` as the poll cycle writes it: NULL on the first reading (the baseline), the register's growth after.
Platform-mode shop readings with a delta are marked billed, as `bill_deltas` marks them. Ledger entries are
inserted in order with their balance after; money is posted on the day it is dated, so each month ties out.

**Once.** A site that has readings or money already gets nothing (a second `demo seed` adds nothing, at once):
the history is for a fresh demo (`rm instance/*.db`).

The property fee and the allocation are the monthly runs' rules (portal.monthly), a package beside this one
that it may not import (the layer contract): `demo seed` hands them in as `MonthlyRules`.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.orm import Session

from portal.bulk import insert_rows, postgresql
from portal.control.balance import restore_level, trip_threshold
from portal.ledger.receipts import number_receipt
from portal.metering.daily import posting_day, reading_day
from portal.models import (
    Account,
    ControlCommand,
    ControlMode,
    DailyUsage,
    EntryKind,
    FeeCharge,
    IntervalReading,
    LedgerEntry,
    Meter,
    OrderStatus,
    PaymentOrder,
    Site,
    Supply,
    utcnow,
)
from portal.payments.states import move
from portal.settings import business_tz
from portal.sites.demo_money import ALLOCATION_TIME, DemoMeter, Month, ShopYear
from portal.sites.demo_shapes import COMMON_PEAK_W, WATER_PEAK_LPH, common_trade, quarter_hours, shop_peak_w, shop_trade
from portal.tariffs.versions import Versions

QUARTER = timedelta(minutes=15)


@dataclass(frozen=True)
class MonthlyRules:
    """The monthly runs' decisions, handed in by `demo seed` (portal.cli.demo) from portal.monthly."""

    #: {account id: (fee, basis)}: each shop's monthly property fee
    fees_due: dict[int, tuple[int, str]]
    #: (fee, balance) -> (debited, left as fee arrears), as the fee run splits it
    split_fee: Callable[[int, int], tuple[int, int]]
    #: (period YYYY-MM, start, end) -> {account id: [(ledger key, fen, memo)]}: run after the common meters'
    #: readings are in, in period order; it writes the allocation runs
    allocate: Callable[[str, datetime, datetime], dict[int, list[tuple[str, int, str]]]]


@dataclass
class History:
    """What the backfill wrote (or why it wrote nothing)."""

    skipped: str = ""
    first: date | None = None
    last: date | None = None
    readings: int = 0
    entries: int = 0
    orders: int = 0
    cut_offs: int = 0
    days_rolled_up: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """What `demo seed` prints."""
        if self.skipped:
            return [f"History: {self.skipped}."]
        return [f"History {self.first} to {self.last}: {self.readings:,} readings, {self.entries:,} ledger entries, "
                f"{self.orders:,} payment orders, {self.cut_offs} cut-offs; {self.days_rolled_up:,} meter-days "
                "rolled up (" + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()) + ")."]


@dataclass(frozen=True)
class Span:
    """The history's quarter-hours: from 00:00 business time `days` days ago to the last boundary before now."""

    first_day: date
    start: datetime  #: UTC instant of the baseline reading
    end: datetime  #: UTC instant of the last reading

    @classmethod
    def ending(cls, now: datetime, days: int) -> Span:
        tz = business_tz()
        first_day = now.astimezone(tz).date() - timedelta(days=days)
        start = datetime.combine(first_day, time(0), tz).astimezone(UTC)
        end = start + QUARTER * int((now - start) / QUARTER)
        return cls(first_day, start, end)

    def days(self) -> Iterator[tuple[date, datetime, int]]:
        """Each business day with its 00:00 (UTC) and how many of its quarter-hours have closed by `end`."""
        tz, day = business_tz(), self.first_day
        while True:
            midnight = datetime.combine(day, time(0), tz).astimezone(UTC)
            quarters = min(96, int((self.end - midnight) / QUARTER))
            if quarters <= 0:
                return
            yield day, midnight, quarters
            day += timedelta(days=1)

    def instants(self) -> list[datetime]:
        """Every reading's instant, the baseline first (days of 23 or 25 hours do not exist in China)."""
        return [self.start + QUARTER * i for i in range(int((self.end - self.start) / QUARTER) + 1)]


def backfill(session: Session, site: Site, openings: dict[str, int], monthly: Callable[[], MonthlyRules], *,
             days: int = 365, now: datetime | None = None) -> History:
    """Write the site's history of `days` days up to `now`, once; only flushes (the caller commits).

    `monthly` sets up the fee and the allocation groups and returns their rules; it is called only when the
    history is written."""
    history = History()
    meters = session.execute(select(Meter).where(Meter.site_id == site.id).order_by(Meter.id)).scalars().all()
    if not meters:
        return History(skipped="no meters")
    if session.scalar(select(exists().where(IntervalReading.meter_id.in_([m.id for m in meters])))) or \
            session.scalar(select(exists().where(LedgerEntry.account_id == Account.id, Account.site_id == site.id))):
        return History(skipped="already there (the site has readings or money; rm instance/*.db for a fresh demo)")
    span = Span.ending(now or utcnow(), days)
    rules = monthly()
    history.first, history.last = span.first_day, span.end.astimezone(business_tz()).date()
    writer = _Readings(session, span.instants())
    clock = _Clock(history)
    prices = _prices(session, site, meters, span.start)
    commons = [m for m in meters if m.account_id is None]
    for m in commons:
        rng = random.Random(f"demo:{m.code}")
        trade = common_trade(int(m.code[-2:]))
        # a DTSU666 answers in float32 kWh, exact to 0.01 kWh only below 2^15 kWh: where its register stands
        register = rng.randint(1_000, 8_000) * 100
        deltas = [q for day, _, n in span.days() for q in quarter_hours(trade, COMMON_PEAK_W[trade], day, rng)[:n]]
        writer.meter(m.id, None, register, deltas, billed=False)
    clock.lap("common meters")
    # the allocation prices the common meters' days off the roll-ups (portal.monthly.allocation): theirs first
    common_ids = {m.id for m in commons}
    written = _write_days(session, [d for d in writer.days if d["meter_id"] in common_ids], [])
    months = _months(span, rules)
    clock.lap("allocation")
    accounts = session.execute(select(Account).where(Account.site_id == site.id).order_by(Account.id)).scalars().all()
    by_account: dict[int, list[Meter]] = {}
    for m in meters:
        if m.account_id is not None:
            by_account.setdefault(m.account_id, []).append(m)
    shops = []
    for account in accounts:
        shop = _shop_year(site, account, by_account.get(account.id, []), prices, rules, openings, span)
        for day, midnight, quarters in span.days():
            shop.live(day, midnight, quarters, _month_of(months, shop.account_id, day, rules))
        for m in shop.meters:
            writer.meter(m.id, account.id, m.register, shop.deltas[m.id], billed=not m.meter_mode)
            del shop.deltas[m.id]
        shops.append(shop)
    clock.lap("shops")
    history.readings = writer.written
    _write_money(session, site, shops, history)
    # the shops were open all the year their history covers (a month's statement lists the shops open in it)
    session.execute(update(Account).where(Account.site_id == site.id, Account.created_at > span.start)
                    .values(created_at=span.start))
    clock.lap("money")
    history.days_rolled_up = written + _write_days(session, [d for d in writer.days if d["meter_id"] not in common_ids],
                                                   shops)
    clock.lap("daily roll-ups")
    return history


@contextmanager
def fast_sqlite(session: Session) -> Iterator[None]:
    """SQLite: no fsync and a bigger page cache while the history is written and committed, restored after."""
    if postgresql(session):
        yield
        return
    conn = session.connection()
    was = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql("PRAGMA synchronous = OFF")
    conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MB
    try:
        yield
    finally:
        conn = session.connection()
        conn.exec_driver_sql(f"PRAGMA synchronous = {int(was)}")
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")


class _Readings:
    """Writes meters' readings set-wise: a register at each instant, its delta as the poll cycle writes it; and
    each meter's days as the roll-up counts them (portal.metering.daily), gathered on the way."""

    def __init__(self, session: Session, instants: list[datetime]):
        self.session, self.instants, self.written = session, instants, 0
        self.days: list[dict] = []
        self.pg = postgresql(session)
        # each business day's readings as a run of instants: (day, first index, last index)
        tz, self.runs = business_tz(), []
        for i, at in enumerate(instants):
            day = reading_day(at, tz)
            if self.runs and self.runs[-1][0] == day:
                self.runs[-1][2] = i
            else:
                self.runs.append([day, i, i])
        if not self.pg:
            # the column's own conversion, once per instant rather than once per row
            column = IntervalReading.__table__.c.interval_start
            dialect = session.get_bind().dialect
            convert = column.type._cached_bind_processor(dialect) or (lambda v: v)
            self.bound = [convert(at) for at in instants]

    def meter(self, meter_id: int, account_id: int | None, register: int, deltas: list[int], *,
              billed: bool) -> None:
        """The baseline at `register`, then one reading per delta."""
        totals, total = [register], register
        for d in deltas:
            total += d
            totals.append(total)
        moved = [None, *deltas]
        flags = [False] + [billed and d > 0 for d in deltas]
        if self.pg:
            insert_rows(self.session, IntervalReading.__table__, [
                dict(meter_id=meter_id, interval_start=at, energy_total=t, delta=d, billed=b)
                for at, t, d, b in zip(self.instants, totals, moved, flags)])
        else:
            self.session.connection().exec_driver_sql(
                "INSERT INTO interval_readings (meter_id, interval_start, energy_total, delta, billed) "
                "VALUES (?, ?, ?, ?, ?)",
                [(meter_id, at, t, d, int(b)) for at, t, d, b in zip(self.bound, totals, moved, flags)])
        self.written += len(totals)
        for day, a, b in self.runs:
            self.days.append(dict(meter_id=meter_id, day=day, account_id=account_id,
                                  opening_reading=totals[a] - (moved[a] or 0), closing_reading=totals[b],
                                  first_at=self.instants[a], last_at=self.instants[b],
                                  usage=totals[b] - totals[a] + (moved[a] or 0), charged_fen=0,
                                  readings=b - a + 1))


class _Clock:
    def __init__(self, history: History):
        self.history, self.t = history, datetime.now(UTC)

    def lap(self, what: str) -> None:
        now = datetime.now(UTC)
        self.history.seconds[what] = (now - self.t).total_seconds()
        self.t = now


def _prices(session: Session, site: Site, meters: list[Meter], at: datetime) -> dict[int, int]:
    """Each meter's flat price (0.0001 yuan per kWh or m³) in force when the history begins."""
    tariff_of = {m.id: m.tariff_id or site.default_tariff_id for m in meters}
    versions = Versions(session, set(tariff_of.values()) - {None})
    found = {}
    for meter_id, tariff_id in tariff_of.items():
        version = versions.at(tariff_id, at)
        if version is None or version.kind != "flat":
            raise ValueError(f"the demo history prices flat tariffs only (meter {meter_id})")
        found[meter_id] = version.unit_price_e4
    return found


def _months(span: Span, rules: MonthlyRules) -> dict[date, dict[int, list[tuple[str, int, str]]]]:
    """The 1st of each month in the span with the allocation of the month before (run by `rules.allocate`)."""
    tz, found = business_tz(), {}
    for day, midnight, _ in span.days():
        if day.day != 1 or midnight <= span.start or midnight + ALLOCATION_TIME > span.end:
            continue  # (a history ending before 00:30 on the 1st leaves that month's runs to the cron)
        previous = (day - timedelta(days=1)).replace(day=1)
        start = datetime.combine(previous, time(0), tz).astimezone(UTC)
        found[day] = rules.allocate(previous.strftime("%Y-%m"), start, midnight)
    return found


def _month_of(months: dict, account_id: int, day: date, rules: MonthlyRules) -> Month | None:
    if day not in months:
        return None
    return Month(rules.fees_due.get(account_id), months[day].get(account_id, []))


def _shop_year(site: Site, account: Account, meters: list[Meter], prices: dict[int, int], rules: MonthlyRules,
               openings: dict[str, int], span: Span) -> ShopYear:
    n = int(account.code[1:])
    trade = shop_trade(n)
    rng = random.Random(f"demo:{account.code}")
    area = int(account.area_m2 or 0)
    demo_meters = [DemoMeter(
        id=m.id, code=m.code, kind=m.kind.value, meter_mode=m.control_mode == ControlMode.METER,
        trade="water" if m.kind.value == "water" else trade,
        peak=WATER_PEAK_LPH if m.kind.value == "water" else shop_peak_w(trade, area),
        price_e4=prices[m.id], register=rng.randint(2_000, 60_000) * (1000 if m.kind.value == "water" else 100))
        for m in meters]
    shop = ShopYear(account.id, account.code, demo_meters, 0, rng, rules.split_fee,
                    late_payer=n % 37 == 0 or n in (58, 163), exempt=trade == "cold_storage",
                    restore_at=restore_level(site), trip_at=trip_threshold(site))
    opening = openings.get(account.code, 0)
    if opening:
        shop._post(EntryKind.OPENING, opening, f"opening:{site.code}:{account.code}", span.start,
                   memo="opening balance (import)", actor="system:demo")
    return shop


def _write_days(session: Session, days: list[dict], shops: list[ShopYear]) -> int:
    """The meters' days (portal.metering.daily's daily_usage), each with the energy or water money posted on it.

    Written from the history's own totals rather than by `rebuild_daily`, which reads the year back from the
    table it was just given (minutes on SQLite, whose readings have no index by time alone); both count the
    same way, and the tests hold them equal.
    """
    charged: dict[tuple[int, date], int] = {}
    tz = business_tz()
    for s in shops:
        for e in s.entries:
            if e["meter_id"] is not None and e["kind"] in (EntryKind.ENERGY, EntryKind.WATER):
                key = (e["meter_id"], posting_day(e["created_at"], tz))
                charged[key] = charged.get(key, 0) - e["amount_fen"]
    now = utcnow()
    for row in days:
        row["charged_fen"] = charged.pop((row["meter_id"], row["day"]), 0)
        row["updated_at"] = now
    if charged:  # money posted on a day without readings (cannot happen: each day's charge is of its readings)
        raise ValueError(f"charges without readings: {sorted(charged)[:3]}")
    insert_rows(session, DailyUsage.__table__, days)
    return len(days)


def _write_money(session: Session, site: Site, shops: list[ShopYear], history: History) -> None:
    """The orders, ledger entries (with their receipts), fee charges and commands; balances and meters after."""
    orders = [o for s in shops for o in s.orders]
    paid = {o["out_trade_no"]: (o.pop("paid_at"), o.pop("platform_trade_no")) for o in orders}
    if orders:  # created, in one statement per batch (the table's defaults: status created)
        session.execute(insert(PaymentOrder.__table__), orders)
    ids = dict(session.execute(select(PaymentOrder.out_trade_no, PaymentOrder.id).where(
        PaymentOrder.account_id.in_([s.account_id for s in shops]))).tuples().all())
    for trade_no, (at, platform) in paid.items():  # each through the order state machine, as a notify and its credit
        move(session, ids[trade_no], OrderStatus.PAID, paid_at=at, platform_trade_no=platform)
        move(session, ids[trade_no], OrderStatus.CREDITED, credited_at=at)
    entries = []
    for s in shops:
        for e in s.entries:
            row = dict(e)
            order = row.pop("order")
            row["order_id"] = ids[order] if order else None
            entries.append(row)
    insert_rows(session, LedgerEntry.__table__, entries)
    cash = sorted((e for e in entries if e["kind"] == EntryKind.CASH), key=lambda e: e["created_at"])
    if cash:
        entry_ids = dict(session.execute(select(LedgerEntry.idempotency_key, LedgerEntry.id).where(
            LedgerEntry.idempotency_key.in_([e["idempotency_key"] for e in cash]))).tuples().all())
        for e in cash:  # numbered in the order the counter took them, per year
            number_receipt(session, entry_ids[e["idempotency_key"]], site.id, e["created_at"])
    insert_rows(session, FeeCharge.__table__, [f for s in shops for f in s.fees])
    commands = [{k: v for k, v in c.items() if k != "at"} for s in shops for c in s.commands]
    insert_rows(session, ControlCommand.__table__, commands)
    a = Account.__table__
    session.execute(update(a).where(a.c.id == bindparam("aid")).values(
        balance_fen=bindparam("balance"), fee_arrears_fen=bindparam("arrears")),
        [dict(aid=s.account_id, balance=s.balance, arrears=s.fee_arrears) for s in shops])
    m = Meter.__table__
    session.execute(update(m).where(m.c.id == bindparam("mid")).values(
        charge_remainder_e5=bindparam("rem"), purchase_count=bindparam("writes"),
        purchase_total_fen=bindparam("bought"), deduction_total_fen=bindparam("taken")),
        [dict(mid=dm.id, rem=0 if dm.meter_mode else dm.remainder_e5, writes=dm.writes, bought=dm.purchased_fen,
              taken=dm.deducted_fen) for s in shops for dm in s.meters])
    off = [dm.id for s in shops if s.off_since is not None for dm in s.meters if not dm.meter_mode]
    if off:  # still cut off today: the arrears job keeps them so until they pay
        session.execute(update(m).where(m.c.id.in_(off)).values(supply_desired=Supply.OFF, desired_reason="arrears"))
    session.expire_all()
    history.entries, history.orders = len(entries), len(orders)
    history.cut_offs = sum(s.trips for s in shops)
