"""The schema comes only from migrations, and the migration chain matches the models."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from portal.extensions import db
from portal.metering.partitions import is_partition

ROOT = Path(__file__).resolve().parent.parent


def diff_against_models(connection) -> list:
    # the readings' monthly partitions (PostgreSQL) are the cron's, not the models': env.py skips them too
    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "include_name": lambda name, type_, parents: not (
            type_ == "table" and is_partition(name))})
    return compare_metadata(context, db.metadata)


def test_upgraded_postgresql_schema_matches_the_models(app):
    with db.engine.connect() as conn:
        assert diff_against_models(conn) == []


def test_chain_downgrades_to_empty_and_upgrades_again(app):
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    with db.engine.connect() as conn:
        assert diff_against_models(conn) == []


def test_meter_rows_have_room_on_their_pages_for_the_cycles_updates(app):
    """0023: a cycle rewrites every meter's books or remainder; with room on its page the new version stays there
    (a HOT update: no index touched) instead of going into every index of the table."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        options = conn.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'meters'")).scalar_one()
    assert "fillfactor=70" in (options or [])


def test_state_and_account_rows_have_room_on_their_pages_for_every_rows_next_version(app):
    """0024: every cycle rewrites the state of every meter it read, and a cycle across a quarter hour the balance
    of every shop it bills; at fillfactor 50 a page has room for a new version of each of its rows, so those
    updates stay on their pages (HOT) instead of going into the tables' indexes."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        options = dict(conn.execute(text(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('meter_states', 'accounts')")).all())
    assert {table: "fillfactor=50" in (o or []) for table, o in options.items()} == {
        "meter_states": True, "accounts": True}


def test_embedded_sqlite_database_upgrades_to_the_models(tmp_path):
    """The demo's SQLite database is built by the same chain, in a separate process."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    from sqlalchemy import create_engine

    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        assert diff_against_models(conn) == []
    engine.dispose()


def test_0020_opens_a_supply_off_alarm_for_each_meter_already_off_and_its_downgrade_takes_them_away(
        empty_database):
    """The cycle raises supply_off when it sees supply go off: a meter off before the upgrade gets its alarm here."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from portal import create_app
    from portal.models import Account, Alarm, Gateway, Meter, MeterKind, MeterState, Protocol, Site, Supply

    url = empty_database.replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": {}})
    engine = create_engine(url)
    try:
        with app.app_context():
            upgrade(revision="0019")
            with Session(engine) as s:
                site = Site(code="S1", name="mall")
                s.add(site)
                s.flush()
                gw = Gateway(site_id=site.id, code="GW1", name="bus", host="127.0.0.1", port=502,
                             protocol=Protocol.MODBUS_TCP)
                shop = Account(site_id=site.id, code="A1", name="shop")
                s.add_all([gw, shop])
                s.flush()
                meters = {}
                for unit, (code, account, desired, reason, actual, trip) in enumerate([
                        ("E1", shop.id, Supply.OFF, "arrears", Supply.OFF, "remote"),  # the platform's reason
                        ("C1", None, Supply.ON, "", Supply.OFF, "none"),  # opened at the meter, no reason given
                        ("E2", shop.id, Supply.ON, "", Supply.ON, None),  # on: no alarm
                ], start=1):
                    meters[code] = Meter(site_id=site.id, code=code, name=code, kind=MeterKind.ELECTRIC,
                                         profile="payfirst-prepaid-v1",
                                         gateway_id=gw.id, unit_id=unit, account_id=account, supply_desired=desired,
                                         desired_reason=reason)
                    s.add(meters[code])
                    s.flush()
                    s.add(MeterState(meter_id=meters[code].id, supply_actual=actual, trip_reason=trip))
                ids = {code: m.id for code, m in meters.items()} | {"A1": shop.id}
                s.commit()

            upgrade(revision="0020")
            with Session(engine) as s:
                opened = s.execute(select(Alarm.kind, Alarm.subject, Alarm.meter_id, Alarm.account_id, Alarm.data,
                                          Alarm.cleared_at).order_by(Alarm.meter_id)).all()
            assert [tuple(a) for a in opened] == [
                ("supply_off", f"meter:{ids['E1']}", ids["E1"], ids["A1"],
                 {"what": "supply_off", "meter": "E1", "reason": "arrears"}, None),
                ("supply_off", f"meter:{ids['C1']}", ids["C1"], None,
                 {"what": "supply_off", "meter": "C1", "reason": "unknown"}, None),
            ]

            with engine.connect() as conn:  # one constraint on the kinds, validated (not left NOT VALID)
                assert conn.exec_driver_sql(
                    "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'alarms'::regclass "
                    "AND contype = 'c'").all() == [("ck_alarms_alarm_kind", True)]

            downgrade(revision="0019")
            with Session(engine) as s:
                assert s.scalars(select(Alarm.id)).all() == []
            db.engine.dispose()
    finally:
        engine.dispose()
