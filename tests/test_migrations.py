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
