"""The restore drill (scripts/restore_drill.py, docs/deploy.md "Backups"): a populated database dumped with pg_dump,
restored into a new one, `ledger check` passes there and every shop's balance equals the dump's."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import update

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import Account, EntryKind
from scripts import restore_drill

pytestmark = pytest.mark.skipif(shutil.which("pg_dump") is None, reason="PostgreSQL's client tools are needed")


@pytest.fixture
def populated(app, make_site, make_account, monkeypatch):
    """Two sites, shops with payments, energy charges, fees and a refund; committed as a running site's are."""
    for s, site in enumerate((make_site("mall"), make_site("park"))):
        for i in range(6):
            shop = make_account(site=site, code=f"S{s}{i:02d}")
            for n, (fen, kind) in enumerate(((50_000, EntryKind.PAYMENT), (-1_234 * (i + 1), EntryKind.ENERGY),
                                             (-8_800, EntryKind.FEE), (-500, EntryKind.REFUND))):
                post_entry(db.session, shop, fen, kind, f"drill:{s}:{i}:{n}")
    db.session.commit()
    monkeypatch.setenv("SECRET_KEY", "drill-secret")
    return app.config["SQLALCHEMY_DATABASE_URI"]


def test_a_dump_restored_into_a_new_database_checks_out_with_every_balance(populated, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", populated)
    assert restore_drill.main([]) == 0
    out = capsys.readouterr().out
    assert "ledger ok" in out and "12 shops restored into payfirst_restore_" in out
    assert out.rstrip().endswith("restore drill passed")


def test_a_balance_that_moved_since_the_dump_fails_the_drill_and_is_named(populated, tmp_path):
    dump = tmp_path / "night.pgdump"
    restore_drill.dump(populated, dump)
    post_entry(db.session, db.session.query(Account).filter_by(code="S103").one(), 7_700, EntryKind.PAYMENT,
               "after the dump")
    db.session.commit()
    passed, found = restore_drill.drill(populated, dump)
    assert not passed
    assert "S103: restored 35764 != source 43464" in found  # 50,000 - 4 x 1,234 - 8,800 - 500, then + 7,700


def test_a_dump_whose_books_do_not_add_up_fails_the_ledger_check(populated, tmp_path):
    db.session.execute(update(Account).where(Account.code == "S001").values(balance_fen=1))  # books broken
    db.session.commit()
    passed, found = restore_drill.drill(populated)
    assert not passed
    assert any("balance 1 != entries" in line for line in found)
