"""The books check of meter-mode shops: the ledger balance against what the meters hold (SPEC §3).

Ledger balance against Σ the shop's meter-mode meters' remaining amount as of their last accounted read
(portal.metering.books) + the writes acknowledged since + the writes queued and not yet acknowledged,
within one price step (what one register unit costs at the meter's price). Every poll cycle checks the shops
of its meters and keeps a BOOKS_MISMATCH alarm open while they differ; `ledger check` runs the same
comparison over every shop. A shop that also has platform-mode meters is not compared (their charges stay
in the ledger and never reach its meters), nor one whose meters have not all been read yet.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from portal.alarms import clear_alarm, open_subjects, raise_many
from portal.bulk import among, chunks
from portal.control.commands import MONEY_WRITES
from portal.metering.books import BOOKS, held
from portal.models import (
    Account,
    AccountStatus,
    AlarmKind,
    CommandStatus,
    ControlCommand,
    ControlMode,
    Meter,
    MeterKind,
    Site,
    utcnow,
)
from portal.money import format_yuan
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

    def message(self) -> str:
        return (f"{self.code}: ledger ¥{format_yuan(self.balance_fen)}, meters hold ¥{format_yuan(self.held_fen)}"
                f" and ¥{format_yuan(self.queued_fen)} is queued for them: ¥{format_yuan(self.difference_fen)} apart")


def compare_books(session: Session, account_ids: Iterable[int] | None = None,
                  prices: dict[int, int] | None = None, now: datetime | None = None) -> list[Books]:
    """Both sides of every active meter-mode shop given (all when None) whose meter-mode meters have all been
    read; `prices` (meter id -> 0.0001 yuan) when the caller knows them, else the tariffs' at `now`."""
    m = Meter.__table__
    query = select(m.c.id, m.c.account_id, m.c.site_id, m.c.kind, m.c.control_mode, m.c.tariff_id,
                   m.c.purchase_total_fen, m.c.deduction_total_fen, *(m.c[n] for n in BOOKS)).where(
        m.c.account_id.is_not(None))
    rows = []
    if account_ids is None:
        rows = session.execute(query.where(m.c.account_id.in_(
            select(m.c.account_id).where(m.c.control_mode == ControlMode.METER)))).all()
    else:
        for part in chunks(sorted(set(account_ids))):
            rows += session.execute(query.where(among(session, m.c.account_id, part))).all()
    by_account: dict[int, list] = {}
    for r in rows:
        by_account.setdefault(r.account_id, []).append(r)
    # a mixed shop (platform-mode meters too) and a shop with a meter never read are not compared
    meters = {a: ms for a, ms in by_account.items()
              if all(r.control_mode == ControlMode.METER and r.books_remaining_fen is not None for r in ms)}
    if not meters:
        return []
    prices = dict(prices or {})
    unknown = [r for ms in meters.values() for r in ms if r.id not in prices]
    if unknown:
        prices.update(_prices(session, unknown, now or utcnow()))
    queued = queued_net(session, [r.id for ms in meters.values() for r in ms])
    a = Account.__table__
    out = []
    for part in chunks(sorted(meters)):
        for acct in session.execute(select(a.c.id, a.c.code, a.c.site_id, a.c.balance_fen).where(
                among(session, a.c.id, part), a.c.status == AccountStatus.ACTIVE)):
            ms = meters[acct.id]
            out.append(Books(acct.id, acct.code, acct.site_id, acct.balance_fen, sum(held(r) for r in ms),
                             sum(queued.get(r.id, 0) for r in ms),
                             max(step_fen(prices.get(r.id), r.kind) for r in ms)))
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
    Returns the shops that disagree."""
    compared = compare_books(session, account_ids, prices, now)
    if not compared:
        return []
    subjects = {b.account_id: f"account:{b.account_id}" for b in compared}
    is_open = open_subjects(session, AlarmKind.BOOKS_MISMATCH, list(subjects.values()))
    bad = [b for b in compared if not b.agree]
    raise_many(session, [dict(kind=AlarmKind.BOOKS_MISMATCH, subject=subjects[b.account_id], site_id=b.site_id,
                              account_id=b.account_id, message=b.message())
                         for b in bad if subjects[b.account_id] not in is_open])
    clear_alarm(session, AlarmKind.BOOKS_MISMATCH,
                [subjects[b.account_id] for b in compared if b.agree and subjects[b.account_id] in is_open])
    return bad


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
