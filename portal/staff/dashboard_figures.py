"""The dashboard's figures: a handful of COUNT ... GROUP BY queries over the sites a staff user may see.

Every figure is one aggregate query on indexed columns, never a load of rows, so the dashboard stays cheap at
ten thousand meters (SPEC §5: p95 ≤ 150 ms). `site_ids` is the user's scope (None: every site).
Today's takings follow the counter's daily report (portal.counter.daily_report): platform orders by the time
they were paid, counter recharges and their reversals by when they were posted, in the business day.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from portal.counter.daily_report import day_bounds
from portal.models import (
    Account,
    AccountStatus,
    Alarm,
    AlarmKind,
    EntryKind,
    Gateway,
    LedgerEntry,
    Meter,
    MeterState,
    OrderStatus,
    PaymentOrder,
    Site,
    Supply,
)


@dataclass(frozen=True)
class GatewayFigure:
    """One gateway: reached in its last cycle or not, and how many of its meters answered."""

    id: int
    code: str
    online: bool
    meters_online: int
    meters_offline: int


@dataclass(frozen=True)
class Takings:
    """One line of today's takings: a section (payment, cash, reversal), its channel or method, count and fen."""

    section: str
    detail: str
    count: int
    amount_fen: int


@dataclass(frozen=True)
class Figures:
    """Everything the dashboard shows."""

    gateways: list[GatewayFigure]
    #: desired_reason ("arrears", "remote", "over_power", "closure"...) → shops with a meter switched off for it
    shops_off: dict[str, int]
    shops_in_arrears: int
    arrears_fen: int
    keep_power_meters: int
    #: open (not cleared) alarms by kind
    alarms: dict[AlarmKind, int]
    day: date
    #: None when the reader does not see money (an electrician)
    takings: list[Takings] | None

    @property
    def takings_fen(self) -> int:
        """The day's net takings in fen."""
        return sum(t.amount_fen for t in self.takings or ())


def _scoped(query: Select, column, site_ids: set[int] | None) -> Select:
    return query if site_ids is None else query.where(column.in_(site_ids))


def gateway_figures(session: Session, site_ids: set[int] | None) -> list[GatewayFigure]:
    """Each gateway with its meters online and offline (a meter never read counts as offline); offline first."""
    answered = func.count(Meter.id).filter(MeterState.online.is_(True))
    query = (select(Gateway.id, Gateway.code, Gateway.online, answered, func.count(Meter.id) - answered)
             .outerjoin(Meter, Meter.gateway_id == Gateway.id)
             .outerjoin(MeterState, MeterState.meter_id == Meter.id)
             .group_by(Gateway.id).order_by(Gateway.online, Gateway.code, Gateway.id))
    return [GatewayFigure(*row) for row in session.execute(_scoped(query, Gateway.site_id, site_ids))]


def shops_off(session: Session, site_ids: set[int] | None) -> dict[str, int]:
    """Shops with a meter the platform wants off, by the reason it was switched off."""
    query = (select(Meter.desired_reason, func.count(func.distinct(Meter.account_id)))
             .where(Meter.supply_desired == Supply.OFF, Meter.account_id.is_not(None))
             .group_by(Meter.desired_reason))
    return {reason or "other": n for reason, n in session.execute(_scoped(query, Meter.site_id, site_ids))}


def arrears(session: Session, site_ids: set[int] | None) -> tuple[int, int]:
    """(shops, fen owed) of the open shops at or below their site's trip threshold (portal.control.balance)."""
    query = (select(func.count(Account.id), func.coalesce(func.sum(Account.balance_fen), 0))
             .join(Site, Site.id == Account.site_id)
             .where(Account.status == AccountStatus.ACTIVE, Account.balance_fen <= -Site.overdraft_limit_fen))
    shops, balance = session.execute(_scoped(query, Account.site_id, site_ids)).one()
    return shops, -int(balance)  # a sum of bigints is numeric in PostgreSQL


def keep_power_meters(session: Session, site_ids: set[int] | None) -> int:
    """Meters on keep-power (保电)."""
    query = select(func.count(Meter.id)).where(Meter.keep_power.is_(True))
    return session.execute(_scoped(query, Meter.site_id, site_ids)).scalar_one()


def open_alarms(session: Session, site_ids: set[int] | None) -> dict[AlarmKind, int]:
    """Alarms not yet cleared, by kind."""
    query = select(Alarm.kind, func.count(Alarm.id)).where(Alarm.cleared_at.is_(None)).group_by(Alarm.kind)
    return dict(session.execute(_scoped(query, Alarm.site_id, site_ids)).all())


def takings(session: Session, site_ids: set[int] | None, day: date, tz: ZoneInfo) -> list[Takings]:
    """A business day's platform payments by channel, and counter recharges and reversals by method."""
    start, end = day_bounds(day, tz)
    orders = (select(PaymentOrder.channel, func.count(PaymentOrder.id), func.sum(PaymentOrder.amount_fen))
              .join(Account, Account.id == PaymentOrder.account_id)
              # as the daily report asks: orders live minutes, so those paid today were created since yesterday
              .where(PaymentOrder.status.in_((OrderStatus.PAID, OrderStatus.CREDITED, OrderStatus.REFUNDED)),
                     PaymentOrder.created_at >= start - timedelta(days=1), PaymentOrder.created_at < end,
                     PaymentOrder.paid_at >= start, PaymentOrder.paid_at < end)
              .group_by(PaymentOrder.channel))
    counter = (select(LedgerEntry.kind, LedgerEntry.method, func.count(LedgerEntry.id),
                      func.sum(LedgerEntry.amount_fen))
               .join(Account, Account.id == LedgerEntry.account_id)
               .where(LedgerEntry.kind.in_((EntryKind.CASH, EntryKind.REVERSAL)),
                      LedgerEntry.created_at >= start, LedgerEntry.created_at < end,
                      # spelled as the partial index on the sparse kinds is, so the planner need not prove it
                      LedgerEntry.kind.notin_((EntryKind.ENERGY, EntryKind.WATER)))
               .group_by(LedgerEntry.kind, LedgerEntry.method))
    lines = [Takings("payment", channel.value, n, int(fen))
             for channel, n, fen in session.execute(_scoped(orders, Account.site_id, site_ids))]
    lines += [Takings(kind.value, method or "", n, int(fen))
              for kind, method, n, fen in session.execute(_scoped(counter, Account.site_id, site_ids))]
    order = {"payment": 0, "cash": 1, "reversal": 2}
    return sorted(lines, key=lambda t: (order[t.section], -t.amount_fen, t.detail))


def dashboard_figures(session: Session, site_ids: set[int] | None, day: date, tz: ZoneInfo, *,
                      with_takings: bool = True) -> Figures:
    """Every figure of the dashboard for these sites, with the takings of the business day `day` if asked."""
    shops, owed = arrears(session, site_ids)
    return Figures(
        gateways=gateway_figures(session, site_ids), shops_off=shops_off(session, site_ids),
        shops_in_arrears=shops, arrears_fen=owed, keep_power_meters=keep_power_meters(session, site_ids),
        alarms=open_alarms(session, site_ids), day=day,
        takings=takings(session, site_ids, day, tz) if with_takings else None,
    )
