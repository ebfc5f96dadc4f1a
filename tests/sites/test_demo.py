"""`demo seed`: the Duyun Xingli City demo site through the real importer, idempotent."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.models import (
    Account,
    Gateway,
    LedgerEntry,
    Meter,
    Role,
    StaffUser,
    TenantBinding,
    TenantUser,
)
from portal.sites.demo import DEMO_PASSWORD, MANAGER_PHONE

COUNTED = (Gateway, Account, Meter, LedgerEntry, StaffUser, TenantUser, TenantBinding)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def snapshot(output: str) -> SimpleNamespace:
    """What one run printed and left in the database, as plain values."""
    return SimpleNamespace(
        output=output,
        counts={m.__name__: count(m) for m in COUNTED},
        shop_meters=count(Meter, Meter.account_id.is_not(None)),
        common_meters=count(Meter, Meter.account_id.is_(None)),
        balances=dict(db.session.execute(select(Account.code, Account.balance_fen)).all()),
        staff={
            u.username: (u.role, u.check_password(DEMO_PASSWORD))
            for u in db.session.scalars(select(StaffUser))
        },
        manager_shops=[
            a.code
            for a in db.session.scalars(select(TenantUser).where(TenantUser.phone == MANAGER_PHONE))
            .one()
            .accounts
        ],
        mismatches=ledger_mismatches(db.session),
    )


@pytest.fixture(scope="module")
def runs(app, tmp_path_factory):
    """`demo seed` run twice on empty tables (seconds each, so once per module), as snapshots.

    The demo writes its xlsx into the instance folder, here a temporary one. The tables are
    emptied again after the first test, like after any test. No history here: test_demo_history.py has it.
    """
    instance = tmp_path_factory.mktemp("instance")
    runner = app.test_cli_runner()
    snapshots = []
    with pytest.MonkeyPatch.context() as mp, app.app_context():
        mp.setattr(app, "instance_path", str(instance))
        for _ in range(2):
            result = runner.invoke(args=["demo", "seed", "--history-days", "0"])
            assert result.exit_code == 0, result.output
            snapshots.append(snapshot(result.output))
    first, second = snapshots
    return SimpleNamespace(first=first, second=second, xlsx=instance / "demo-site.xlsx")


def test_demo_seed_builds_five_gateways_300_shops_50_common_meters_and_two_water_meters(runs):
    assert runs.first.counts["Gateway"] == 5
    assert runs.first.counts["Account"] == 300
    assert (runs.first.shop_meters, runs.first.common_meters) == (302, 50)


def test_demo_seed_goes_through_an_import_file_in_the_instance_folder(runs):
    assert runs.xlsx.exists()


def test_demo_seed_creates_one_staff_user_per_role_whose_password_works(runs):
    assert sorted(role for role, _ in runs.first.staff.values()) == sorted(Role)
    assert all(works for _, works in runs.first.staff.values())


def test_demo_seed_prints_the_logins(runs):
    assert all(username in runs.first.output for username in runs.first.staff)
    assert DEMO_PASSWORD in runs.first.output
    assert "S001" in runs.first.output and MANAGER_PHONE in runs.first.output


def test_demo_seed_gives_every_shop_a_tenant_and_one_manager_three_shops(runs):
    assert runs.first.counts["TenantUser"] == 301
    assert runs.first.manager_shops == ["S001", "S002", "S003"]


def test_demo_seed_posts_opening_balances_that_match_the_ledger(runs):
    assert runs.first.counts["LedgerEntry"] > 250
    assert runs.first.mismatches == []


def test_demo_seed_twice_changes_nothing(runs):
    assert "already up to date" in runs.second.output
    assert runs.second.counts == runs.first.counts
    assert runs.second.balances == runs.first.balances
    assert runs.second.mismatches == []


def test_demo_seed_prints_links_to_the_port_the_demo_will_serve_on(app, tmp_path, monkeypatch):
    """The walk found the seed's links on :5000 whatever PORT was (`make demo` passes its PORT on)."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--port", "5123", "--history-days", "0"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5123/auth/staff/login" in result.output
    assert "http://127.0.0.1:5123/auth/tenant/login" in result.output
    assert ":5000" not in result.output
