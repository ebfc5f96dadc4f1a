"""Pooled connections: pinged before use only after sitting idle, and replaced when the ping fails."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

import portal.pool as pool

pytestmark = pytest.mark.no_db


@pytest.fixture
def engine(database_url):
    eng = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=1, max_overflow=0)
    yield eng
    eng.dispose()


@pytest.fixture
def pings(monkeypatch) -> list:
    seen = []
    real = pool.ping
    monkeypatch.setattr(pool, "ping", lambda conn: (seen.append(conn), real(conn)))
    return seen


def test_a_new_or_recently_used_connection_is_not_pinged(engine, pings):
    for n in range(3):
        with engine.connect() as c:
            assert c.execute(text(f"SELECT {n}")).scalar() == n
    assert pings == []


def test_a_connection_idle_for_a_while_is_pinged_once_per_checkout(engine, pings, monkeypatch):
    with engine.connect() as c:
        c.execute(text("SELECT 1"))
    monkeypatch.setattr(pool, "PING_AFTER_IDLE", 0.0)
    with engine.connect() as c:
        assert c.execute(text("SELECT 2")).scalar() == 2
    assert len(pings) == 1


def test_an_idle_connection_that_died_is_replaced_before_use(engine, monkeypatch):
    with engine.connect() as c:
        first = c.connection.dbapi_connection
    first.close()  # the server went away while the connection sat in the pool
    monkeypatch.setattr(pool, "PING_AFTER_IDLE", 0.0)
    with engine.connect() as c:
        assert c.execute(text("SELECT 5")).scalar() == 5
        assert c.connection.dbapi_connection is not first


def test_a_recently_used_dead_connection_fails_once_and_the_pool_recovers(engine):
    with engine.connect() as c:
        first = c.connection.dbapi_connection
    first.close()
    with pytest.raises(Exception), engine.connect() as c:
        c.execute(text("SELECT 6"))
    with engine.connect() as c:
        assert c.execute(text("SELECT 7")).scalar() == 7


def test_a_pinged_connection_is_handed_over_outside_any_transaction(engine, pings, monkeypatch):
    """The ping's SELECT must not leave a transaction open: a caller that switches the driver to autocommit (a
    payment notify's one statement, portal.payments.states) cannot while one is."""
    import psycopg

    with engine.connect() as c:
        c.execute(text("SELECT 1"))
    monkeypatch.setattr(pool, "PING_AFTER_IDLE", 0.0)
    raw = engine.raw_connection()
    try:
        assert len(pings) == 1
        driver = raw.driver_connection
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        driver.autocommit = True
        driver.autocommit = False
    finally:
        raw.close()
