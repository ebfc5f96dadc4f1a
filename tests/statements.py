"""Counting what a piece of code sends to the database: for the tests that hold a hot path to its statements."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event

from portal.extensions import db


@contextmanager
def statements_sent(where: Callable[[str, object], bool] | None = None) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends inside the block, in order; with `where`, those whose
    (statement, parameters) it accepts."""
    seen: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        if where is None or where(statement, parameters):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
