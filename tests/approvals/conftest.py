"""Approval fixtures: a site with a shop at the counter, staff of each role logged in on demand, the queue read back."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Account, AuditEntry, EntryKind, IntervalReading, LedgerEntry, Proposal, Role, Supply, utcnow


def new_key() -> str:
    """A fresh form key, as every counter page hands out."""
    return uuid.uuid4().hex


@pytest.fixture
def site(make_site):
    return make_site("mall", name="Riverside Mall")


@pytest.fixture
def shop(site, make_account, make_meter):
    """An active shop with ¥100.00 and one platform-mode meter that is on."""
    acct = make_account(site=site, code="A101", name="Bakery", balance_fen=10_000)
    make_meter(account=acct, code="E101", state={"online": True, "supply_actual": Supply.ON})
    return acct


@pytest.fixture
def staff(client, site, make_staff, login):
    """staff(role, username) -> a user of that role at the site, logged in on the test client (pages in English)."""

    def as_role(role: Role = Role.CASHIER, username: str | None = None):
        user = make_staff(role=role, sites=[site], username=username)
        login.staff(user)
        client.get("/auth/lang/en")
        return user

    return as_role


def proposals() -> list[Proposal]:
    """Every proposal, oldest first, read afresh."""
    db.session.expire_all()
    return list(db.session.scalars(select(Proposal).order_by(Proposal.id)))


def entries(kind: EntryKind | None = None) -> list[LedgerEntry]:
    """Every ledger entry (of one kind), oldest first, read afresh."""
    db.session.expire_all()
    q = select(LedgerEntry).order_by(LedgerEntry.id)
    return list(db.session.scalars(q.where(LedgerEntry.kind == kind) if kind else q))


def balance(account: Account) -> int:
    db.session.expire_all()
    return db.session.get(Account, account.id).balance_fen


def audits(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def read_at(meter, total: int, minutes_ago: int) -> None:
    """The platform last read `total` (0.01 kWh) off the meter that many minutes ago."""
    db.session.add(IntervalReading(meter_id=meter.id, interval_start=utcnow() - timedelta(minutes=minutes_ago),
                                   energy_total=total, delta=None))
    if meter.state is not None:
        meter.state.energy_total = total
    db.session.commit()
