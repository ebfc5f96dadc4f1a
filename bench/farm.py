"""A throwaway PostgreSQL database and a site of N gateways x M meters, built with bulk inserts."""
from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import psycopg
from sqlalchemy import insert, select, update

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"
SITE_CODE = "BENCH"
PROFILE = "payfirst-prepaid-v1"
OPENING_FEN = 1_000_000  # 10,000 yuan per shop: nobody falls into arrears during the bench
PRICE_E4 = 10_000  # 1.0000 yuan per kWh


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class Database:
    """CREATE DATABASE payfirst_bench_<random> next to TEST_DATABASE_URL; drop() removes it."""

    def __init__(self, admin_url: str | None = None) -> None:
        self.admin_url = _plain(admin_url or os.environ.get("TEST_DATABASE_URL", DEFAULT_DB))
        self.name = f"payfirst_bench_{uuid.uuid4().hex[:10]}"
        base, _, _ = self.admin_url.rpartition("/")
        self.url = f"{base}/{self.name}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def run_alone(prog: str, doc: str, add_arguments, run, argv: list[str] | None = None) -> int:
    """`python -m bench.<part>`: one part's figures in a throwaway database; exit 1 when a bar is missed."""
    import argparse

    ap = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    add_arguments(ap)
    args = ap.parse_args(argv)
    database = Database()
    try:
        figures = run(args, database)
    finally:
        from portal.extensions import db  # imported here: the app (and its engine) exists only once `run` made it

        try:
            db.engine.dispose()
        except RuntimeError:  # no app was made
            pass
        database.drop()
    print()
    for f in figures:
        print(f.line())
    return 1 if any(f.ok is False for f in figures) else 0


def make_app(database_url: str):
    """The app on the bench database, schema by the Alembic migrations (as `flask db upgrade`)."""
    from flask_migrate import upgrade

    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    os.environ.pop("REDIS_URL", None)  # nothing should be enqueued; if it is, the outbox shows it
    from portal import create_app

    app = create_app({"RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade()
    return app


def build_site(session, gateways: int, per_gateway: int, *, code: str = SITE_CODE) -> int:
    """Site, flat tariff, gateways, one shop account (with an opening balance) per meter; returns site id."""
    from portal.models import (
        Account,
        ControlMode,
        EntryKind,
        Gateway,
        LedgerEntry,
        Meter,
        MeterKind,
        Protocol,
        Site,
        Supply,
        Tariff,
        TariffKind,
        TariffVersion,
    )

    now = datetime.now(UTC)
    site_id = session.execute(insert(Site).returning(Site.id), [dict(
        code=code, name="Benchmark mall", overdraft_limit_fen=0, restore_min_fen=0,
        low_balance_levels_fen=[5000, 2000, 500], created_at=now)]).scalar_one()
    tariff_id = session.execute(insert(Tariff).returning(Tariff.id), [dict(
        site_id=site_id, code="FLAT", name="Flat", kind=TariffKind.FLAT, created_at=now)]).scalar_one()
    session.execute(insert(TariffVersion), [dict(
        tariff_id=tariff_id, effective_from=datetime(2020, 1, 1, tzinfo=UTC), unit_price_e4=PRICE_E4,
        created_at=now)])
    session.execute(update(Site).where(Site.id == site_id).values(default_tariff_id=tariff_id))
    gw_ids = session.execute(insert(Gateway).returning(Gateway.id, sort_by_parameter_order=True), [dict(
        site_id=site_id, code=f"GW{g + 1:03d}", name=f"bus {g + 1}", host="127.0.0.1", port=1,  # real port later
        protocol=Protocol.MODBUS_TCP, online=False, missed_cycles=0, created_at=now,
    ) for g in range(gateways)]).scalars().all()
    n = gateways * per_gateway
    acc_ids = session.execute(insert(Account).returning(Account.id, sort_by_parameter_order=True), [dict(
        site_id=site_id, code=f"S{i + 1:05d}", name=f"Shop {i + 1}", tenant_name="", phone="",
        balance_fen=OPENING_FEN, exempt=False, created_at=now,
    ) for i in range(n)]).scalars().all()
    session.execute(insert(LedgerEntry), [dict(
        account_id=a, amount_fen=OPENING_FEN, kind=EntryKind.OPENING, idempotency_key=f"bench-opening:{a}",
        balance_after_fen=OPENING_FEN, memo="opening", actor="bench", created_at=now,
    ) for a in acc_ids])
    session.execute(insert(Meter), [dict(
        site_id=site_id, code=f"M{i + 1:05d}", name=f"meter {i + 1}", kind=MeterKind.ELECTRIC, profile=PROFILE,
        gateway_id=gw_ids[i // per_gateway], unit_id=i % per_gateway + 1, account_id=acc_ids[i],
        control_mode=ControlMode.PLATFORM, supply_desired=Supply.ON, desired_reason="", keep_power=False,
        purchase_count=0, purchase_total_fen=0, charge_remainder_e5=0, created_at=now,
    ) for i in range(n)])
    session.commit()
    return site_id


def set_ports(session, site_id: int, ports: dict[str, int]) -> None:
    """Point the site's gateways at the simulator's ports."""
    from portal.models import Gateway

    ids = dict(session.execute(select(Gateway.code, Gateway.id).where(Gateway.site_id == site_id)).all())
    session.execute(update(Gateway), [{"id": ids[code], "port": port} for code, port in ports.items()])
    session.commit()
