"""Pooled database connections are checked before use only after they sat idle.

SQLAlchemy's `pool_pre_ping` spends a round trip on every checkout, and a web request checks a connection
out once: on a payment notify that is one statement in six. A connection used moments ago is as alive as
the last statement on it proved; one idle for PING_AFTER_IDLE seconds is pinged, and a dead one is
replaced before the request sees it. If the database restarts within that window, the first statement on
such a connection fails, SQLAlchemy recognises the disconnect and discards the whole pool, and the caller's
retry (a platform resending its notify, the next poll) goes through.

`alone` sends one statement on a pooled connection as a transaction of its own (a payment notify's).
"""
from __future__ import annotations

import time

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import event, exc
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

PING_AFTER_IDLE = 10.0


@event.listens_for(Pool, "connect")
def _connected(dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkin")
def _checked_in(dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, record, proxy) -> None:
    since = record.info.get("idle_since")
    if since is not None and time.monotonic() - since < PING_AFTER_IDLE:
        return
    try:
        ping(dbapi_connection)
    except Exception as error:
        raise exc.DisconnectionError(f"pooled connection failed its ping: {error}") from error


def ping(dbapi_connection) -> None:
    """One round trip on the driver's connection, which is handed over as it was found: outside any transaction.

    The driver opens a transaction for the SELECT; left open, the connection would go to its caller inside it, and
    a caller that switches it to autocommit (a payment notify's one statement) could not. Ending it costs a second
    round trip, only on a connection that sat idle."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()
    if not getattr(dbapi_connection, "autocommit", False):
        dbapi_connection.rollback()


def alone(session: Session, sql: str, params: dict):
    """One statement as a transaction of its own (PostgreSQL's autocommit), on the driver's connection (psycopg):
    its first row, or None. Committed when it returns, whatever becomes of the session's transaction, and without
    the round trips of BEGIN and COMMIT; a statement is atomic, so what it writes is committed together or not at all.

    Straight to the driver: SQLAlchemy's Connection and result add a third to the statement's Python time, and
    nothing here needs them. The connection leaves the pool and goes back to it as it was (autocommit off); one
    the statement found dead is discarded rather than pooled."""
    raw = session.get_bind().raw_connection()
    try:
        driver = raw.driver_connection
        driver.autocommit = True
        try:
            with driver.cursor(row_factory=namedtuple_row) as cursor:
                return cursor.execute(sql, params).fetchone()
        finally:
            if not driver.closed:
                driver.autocommit = False
    except psycopg.OperationalError:
        raw.invalidate()
        raise
    finally:
        raw.close()
