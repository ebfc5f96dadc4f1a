"""The books check of meter-mode shops: the ledger balance against what the meters hold (SPEC §3).

Ledger balance against Σ the shop's meter-mode meters' remaining amount as of their last accounted read
(portal.metering.books) + the writes acknowledged since + the writes queued and not yet acknowledged,
within one price step (what one register unit costs at the meter's price). Every poll cycle checks the shops
of its meters and keeps a BOOKS_MISMATCH alarm open while they differ; `ledger check` runs the same
comparison over every shop. A shop that also has platform-mode meters is compared too: their charges are
deducted from its meter-mode meter (portal.metering.billing), so only the meter-mode meters hold its money;
a shop whose meter-mode meters have not all been read yet is not compared.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from portal.alarms import clear_alarm, raise_many
from portal.bulk import among, chunks
from portal.control.commands import MONEY_WRITES
from portal.metering.books import BOOKS, Usage, held
from portal.models import (
    Account,
    AccountStatus,
    Alarm,
    AlarmKind,
    CommandStatus,
    ControlCommand,
    ControlMode,
    EntryKind,
    Meter,
    MeterKind,
    Site,
    utcnow,
)
from portal.money import format_yuan
from portal.notify.alarms import tell_raised
from portal.tariffs.versions import Versions


def queued_net(session: Session, meter_ids: Iterable[int]) -> dict[int, int]:
    """{meter id: purchases − deductions queued and not yet acknowledged} (meters with none are left out)."""
    c = ControlCommand.__table__
    amount = c.c.payload["amount_fen"].as_integer()
    signed = func.sum(case((c.c.action == "deduction", -amount), else_=amount))
    out: dict[int, int] = {}
    for part in chunks(list(meter_ids)):
        query = (select(c.c.meter_id, signed).where(
            among(session, c.c.meter_id, part), c.c.status == CommandStatus.PENDING, c.c.action.in_(MONEY_WRITES))
            .group_by(c.c.meter_id))
        out.update((m, int(v)) for m, v in session.execute(query) if v)
    return out


def step_fen(price_e4: int | None, kind: MeterKind) -> int:
    """One price step: what one register unit (0.01 kWh, or a litre) costs at the price, whole fen, at least 1."""
    per_fen = 100_000 if kind == MeterKind.WATER else 10_000  # price units per fen of one register unit
    return max(1, -(-(price_e4 or 0) // per_fen))


@dataclass(frozen=True)
class Books:
    """A meter-mode shop's two sides: its ledger balance and what its meters hold plus the writes queued."""

    account_id: int
    code: str
    site_id: int
    balance_fen: int
    held_fen: int
    queued_fen: int
    tolerance_fen: int

    @property
    def difference_fen(self) -> int:
        """Ledger minus meters (positive: the ledger says the shop has more than its meters hold)."""
        return self.balance_fen - self.held_fen - self.queued_fen

    @property
    def agree(self) -> bool:
        return abs(self.difference_fen) <= self.tolerance_fen

    def data(self) -> dict:
        """What the alarm shows, in the reader's language (portal.web.alarm_text)."""
        return dict(what="books_mismatch", account=self.code, ledger_fen=self.balance_fen, held_fen=self.held_fen,
                    queued_fen=self.queued_fen, difference_fen=self.difference_fen)

    def message(self) -> str:
        """What the alarm and `ledger check` say."""
        more = "more" if self.difference_fen > 0 else "less"
        return (f"{self.code}: ledger ¥{format_yuan(self.balance_fen)}, meters hold ¥{format_yuan(self.held_fen)}"
                f" and ¥{format_yuan(self.queued_fen)} is queued for them: the ledger has "
                f"¥{format_yuan(abs(self.difference_fen))} {more}")


def compare_books(session: Session, account_ids: Iterable[int] | None = None,
                  prices: dict[int, int] | None = None, now: datetime | None = None, *,
                  differing_only: bool = False) -> list[Books]:
    """Both sides of every active shop given (all when None) with a meter-mode meter, all of them read;
    `differing_only`: only those not exactly equal (the few a cycle must look at).
    `prices` (meter id -> 0.0001 yuan) when the caller knows them, else the tariffs' at `now`."""
    m, a, c = Meter.__table__, Account.__table__, ControlCommand.__table__
    amount = c.c.payload["amount_fen"].as_integer()
    queued = (select(c.c.meter_id, func.sum(case((c.c.action == "deduction", -amount), else_=amount)).label("q"))
              .where(c.c.status == CommandStatus.PENDING, c.c.action.in_(MONEY_WRITES))
              .group_by(c.c.meter_id).subquery())
    in_meter = m.c.control_mode == ControlMode.METER
    unread = case((and_(in_meter, m.c.books_remaining_fen.is_(None)), 1), else_=0)
    holds = case((in_meter, m.c.books_remaining_fen + m.c.purchase_total_fen - m.c.deduction_total_fen
                  - m.c.books_net_fen), else_=0)
    sides = (select(m.c.account_id, func.sum(holds).label("held"),
                    func.sum(func.coalesce(queued.c.q, 0)).label("queued"))
             .outerjoin(queued, queued.c.meter_id == m.c.id).where(m.c.account_id.is_not(None))
             .group_by(m.c.account_id)
             .having(func.max(case((in_meter, 1), else_=0)) == 1, func.max(unread) == 0))
    parts = [None] if account_ids is None else list(chunks(sorted(set(account_ids))))
    rows = []
    for part in parts:
        per = (sides if part is None else sides.where(among(session, m.c.account_id, part))).subquery()
        query = (select(a.c.id, a.c.code, a.c.site_id, a.c.balance_fen, per.c.held, per.c.queued)
                 .join(per, per.c.account_id == a.c.id).where(a.c.status == AccountStatus.ACTIVE))
        if differing_only:
            query = query.where(a.c.balance_fen != per.c.held + per.c.queued)
        rows += session.execute(query).all()
    if not rows:
        return []
    tolerance = _tolerances(session, [r.id for r in rows], prices or {}, now or utcnow())
    return [Books(r.id, r.code, r.site_id, r.balance_fen, int(r.held), int(r.queued), tolerance[r.id]) for r in rows]


def _tolerances(session: Session, account_ids: list[int], prices: dict[int, int], now: datetime) -> dict[int, int]:
    """{account id: one price step of its dearest meter}: how far the two sides may be apart."""
    m = Meter.__table__
    meters = []
    for part in chunks(account_ids):
        meters += session.execute(select(m.c.id, m.c.account_id, m.c.site_id, m.c.kind, m.c.tariff_id)
                                  .where(among(session, m.c.account_id, part))).all()
    prices = dict(prices)
    unknown = [r for r in meters if r.id not in prices]
    if unknown:
        prices.update(_prices(session, unknown, now))
    out: dict[int, int] = dict.fromkeys(account_ids, 1)
    for r in meters:
        out[r.account_id] = max(out[r.account_id], step_fen(prices.get(r.id), r.kind))
    return out


def _prices(session: Session, rows: list, now: datetime) -> dict[int, int]:
    """{meter id: the unit price of its tariff in force at `now`} (the price a meter-mode meter is given)."""
    defaults = dict(session.execute(select(Site.id, Site.default_tariff_id).where(
        Site.id.in_({r.site_id for r in rows}))).all())
    tariff_of = {r.id: r.tariff_id or defaults.get(r.site_id) for r in rows}
    versions = Versions(session, set(tariff_of.values()) - {None})
    out = {}
    for meter_id, tariff_id in tariff_of.items():
        version = versions.at(tariff_id, now)
        if version is not None:
            out[meter_id] = version.unit_price_e4
    return out


def check_books(session: Session, account_ids: Iterable[int], prices: dict[int, int] | None = None,
                now: datetime | None = None) -> list[Books]:
    """Compare the shops' books; raise BOOKS_MISMATCH where they disagree, clear it where they agree again.
    Returns the shops that disagree. In agreement the two sides are equal to the fen, so only the shops
    that differ at all, and those with an alarm open, are looked at closely."""
    ids = set(account_ids)
    if not ids:
        return []
    is_open = {int(s.removeprefix("account:")) for s in session.execute(select(Alarm.subject).where(
        Alarm.kind == AlarmKind.BOOKS_MISMATCH, Alarm.cleared_at.is_(None))).scalars()} & ids
    differing = compare_books(session, ids, prices, now, differing_only=True)
    bad = [b for b in differing if not b.agree]
    opened = raise_many(session, [
        dict(kind=AlarmKind.BOOKS_MISMATCH, subject=f"account:{b.account_id}", site_id=b.site_id,
             account_id=b.account_id, message=b.message(), data=b.data())
        for b in bad if b.account_id not in is_open])
    tell_raised(session, opened)
    still = {b.account_id for b in bad}
    recovered = [b.account_id for b in compare_books(session, is_open - still, prices, now) if b.agree]
    clear_alarm(session, AlarmKind.BOOKS_MISMATCH, [f"account:{i}" for i in recovered])
    return bad


def start_books(session: Session, meters: list, now: datetime) -> list[Usage]:
    """Meters whose books began with this cycle's read: in a shop with that one meter and no other, what
    the ledger holds beyond the meter and the writes queued for it was used before the books began (before
    an upgrade, between a simulator's start and its first poll): the usage debits that catch up with it.
    A meter holding more than the ledger is left to the books check; nothing is ever credited."""
    if not meters:
        return []
    m, a = Meter.__table__, Account.__table__
    by_account = {meter.account_id: meter for meter in meters}
    alone, balances = set(), {}
    for part in chunks(sorted(by_account)):
        alone.update(session.execute(select(m.c.account_id).where(among(session, m.c.account_id, part))
                                     .group_by(m.c.account_id).having(func.count() == 1)).scalars())
        balances.update(session.execute(select(a.c.id, a.c.balance_fen).where(
            among(session, a.c.id, part), a.c.status == AccountStatus.ACTIVE)).tuples().all())
    queued = queued_net(session, [by_account[i].id for i in alone])
    out = []
    for account_id in sorted(alone & set(balances)):
        meter = by_account[account_id]
        before = balances[account_id] - held(meter) - queued.get(meter.id, 0)
        if before > 0:
            kind = EntryKind.WATER if meter.kind == MeterKind.WATER else EntryKind.ENERGY
            out.append(Usage(meter.id, account_id, kind, before, f"usage:{meter.id}:{meter.books_read_at.isoformat()}",
                             f"{meter.code}: used before its books began, ¥{format_yuan(before)}"))
    return out


@dataclass(frozen=True)
class Purse:
    """The meter-mode meter a shop's money is written into (its first by code), and what it will hold."""

    meter_id: int
    gateway_id: int
    #: what the books say it holds plus the writes queued for it; None before its first read
    holds_fen: int | None


def purses(session: Session, account_ids: Iterable[int]) -> dict[int, Purse]:
    """{account id: its purse} for the shops given that have a meter-mode meter (money in goes there:
    portal.payments.credit; fees and common-area charges are deducted from it: portal.monthly)."""
    m = Meter.__table__
    first: dict[int, object] = {}
    for part in chunks(sorted(set(account_ids))):
        for r in session.execute(select(m.c.id, m.c.account_id, m.c.gateway_id, m.c.purchase_total_fen,
                                        m.c.deduction_total_fen, *(m.c[n] for n in BOOKS))
                                 .where(among(session, m.c.account_id, part), m.c.control_mode == ControlMode.METER)
                                 .order_by(m.c.account_id, m.c.code)):
            first.setdefault(r.account_id, r)
    queued = queued_net(session, [r.id for r in first.values()])
    return {a: Purse(r.id, r.gateway_id, None if held(r) is None else held(r) + queued.get(r.id, 0))
            for a, r in first.items()}
