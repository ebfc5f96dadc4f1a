"""`demo seed`: the Duyun Xingli City demo site through the real importer, idempotent."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.demo import DEMO_PASSWORD, MANAGER_PHONE
from portal.extensions import db
from portal.ledger import ledger_mismatches
from portal.models import Account, Gateway, LedgerEntry, Meter, Role, StaffUser, TenantBinding, TenantUser


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def seed(app, runner, tmp_path, monkeypatch):
    """seed() runs `demo seed` with the instance folder in tmp_path (the demo writes its xlsx there)."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))

    def run():
        result = runner.invoke(args=["demo", "seed"])
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_demo_seed_builds_the_mall(seed, tmp_path):
    seed()
    assert count(Gateway) == 5
    assert count(Account) == 300
    assert count(Meter, Meter.account_id.is_not(None)) == 300
    assert count(Meter, Meter.account_id.is_(None)) == 50
    assert (tmp_path / "demo-site.xlsx").exists()


def test_demo_seed_creates_one_staff_user_per_role_and_prints_the_logins(seed, client):
    output = seed()
    users = {u.username: u.role for u in db.session.scalars(select(StaffUser))}
    assert sorted(users.values()) == sorted(Role)
    assert all(name in output for name in users)
    assert DEMO_PASSWORD in output and "S001" in output and MANAGER_PHONE in output
    client.post("/auth/staff/login", data={"username": "operator", "password": DEMO_PASSWORD})
    assert client.get("/staff/").status_code == 200


def test_demo_tenants_can_log_in_and_the_manager_has_three_shops(seed):
    seed()
    manager = db.session.scalars(select(TenantUser).where(TenantUser.phone == MANAGER_PHONE)).one()
    assert [a.code for a in manager.accounts] == ["S001", "S002", "S003"]
    assert count(TenantUser) == 301


def test_demo_seed_twice_changes_nothing(seed):
    seed()
    before = {m.__name__: count(m) for m in (Gateway, Account, Meter, LedgerEntry, StaffUser, TenantUser,
                                            TenantBinding)}
    balances = dict(db.session.execute(select(Account.code, Account.balance_fen)).all())
    output = seed()
    assert "already up to date" in output
    assert {m.__name__: count(m) for m in (Gateway, Account, Meter, LedgerEntry, StaffUser, TenantUser,
                                           TenantBinding)} == before
    assert dict(db.session.execute(select(Account.code, Account.balance_fen)).all()) == balances


def test_demo_ledger_matches_its_balances(seed):
    seed()
    assert count(LedgerEntry) > 250
    assert ledger_mismatches(db.session) == []
