"""Fixtures of the balance-rule tests: a shop with its meters, energy use and payments at chosen times.

Times are chosen in Asia/Shanghai and passed as `now`, so no test depends on the day it runs. The polls
that switching asks for are recorded, not run (no gateway answers here).
"""
from __future__ import annotations

import itertools
from datetime import UTC, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.control.balance import enforce_balance
from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import Account, Alarm, AlarmKind, EntryKind, LedgerEntry, MeterKind, Supply
from portal.payments.credit import cash_recharge
from tests.recorded_polls import polls  # autouse: the polls a command asks for are recorded, not run

SHANGHAI = ZoneInfo("Asia/Shanghai")
_seq = itertools.count(1)


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time as the UTC instant the rules receive."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


#: an ordinary Monday morning: no holiday, no make-up workday
WORKDAY = local(2026, 3, 2, 10)


@pytest.fixture
def shop(make_site, make_account, make_meter):
    """shop(balance_fen, meters=1, water=False, exempt=False, **site settings) -> an account whose meters are on."""

    def make(balance_fen: int = 1_000, meters: int = 1, water: bool = False, exempt: bool = False,
             **site_settings) -> Account:
        site = make_site(**site_settings)
        account = make_account(site=site, balance_fen=balance_fen, exempt=exempt)
        gateway = None
        for _ in range(meters):
            kind = dict(kind=MeterKind.WATER, profile="payfirst-water-v1") if water else {}
            gateway = make_meter(account=account, gateway=gateway, **kind).gateway
        db.session.refresh(account)
        return account

    return make


def use(account: Account, fen: int, now: datetime = WORKDAY) -> list:
    """The shop uses `fen` worth of energy (billed at `now`), then the rules run as billing runs them."""
    post_entry(db.session, account, -fen, EntryKind.ENERGY, f"energy:test:{next(_seq)}")
    changed = enforce_balance(db.session, account, actor="system:billing", now=now)
    db.session.commit()
    return changed


def pay(account: Account, fen: int) -> LedgerEntry:
    """A counter recharge: the money-in path of every payment (repayments first, then the rules)."""
    entry = cash_recharge(db.session, account, fen, "test", "staff:cashier", f"test:{next(_seq)}")
    db.session.commit()
    return entry


def supply(account: Account) -> list[Supply]:
    """The desired supply of each of the shop's meters, as the database has it."""
    db.session.expire_all()
    return [m.supply_desired for m in account.meters]


def alarms(account: Account, kind: AlarmKind, open_only: bool = True) -> list[Alarm]:
    """The shop's alarms of one kind (open ones unless told)."""
    q = select(Alarm).where(Alarm.subject == f"account:{account.id}", Alarm.kind == kind).order_by(Alarm.id)
    if open_only:
        q = q.where(Alarm.cleared_at.is_(None))
    return list(db.session.execute(q).scalars())


def entries(account: Account) -> list[tuple[str, int, int]]:
    """The shop's ledger as (kind, amount, balance after), oldest first."""
    rows = db.session.execute(select(LedgerEntry).where(LedgerEntry.account_id == account.id)
                              .order_by(LedgerEntry.id)).scalars()
    return [(e.kind.value, e.amount_fen, e.balance_after_fen) for e in rows]


ON, OFF = Supply.ON, Supply.OFF
