"""One picture of the database, read on several connections at once.

A report whose queries are each mostly a wait on PostgreSQL takes about as long as its longest query when they
run side by side, a connection each. But connections that begin at different instants see different data: a
payment committed between two of them would be in one query's balances and missing from another's sums, and a
shop's month would no longer add up. PostgreSQL lets transactions share a snapshot for this, as pg_dump's
parallel jobs do (`pg_export_snapshot()` in the first, `SET TRANSACTION SNAPSHOT` in the others): every session
of `shared_snapshot` sees the database as of one instant, whichever thread reads on it.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connectable
from sqlalchemy.orm import Session

#: what pg_export_snapshot() returns, e.g. 00000003-0000001B-1: checked before it is spliced into SQL
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")
_REPEATABLE = {"isolation_level": "REPEATABLE READ"}


def shares_snapshots(bind: Connectable) -> bool:
    """Whether the database can share a snapshot between connections (PostgreSQL; not the demo's SQLite)."""
    return bind.dialect.name == "postgresql"


@contextmanager
def shared_snapshot(bind: Connectable, count: int) -> Iterator[list[Session]]:
    """`count` read-only sessions on connections of their own that all see one snapshot; one thread at a
    time may use each. Their transactions end (rolled back: nothing was written) when the block does."""
    if not shares_snapshots(bind):
        raise ValueError(f"{bind.dialect.name} cannot share a snapshot between connections")
    with ExitStack() as stack:
        sessions = [stack.enter_context(Session(bind=bind)) for _ in range(count)]
        lead = sessions[0]
        lead.connection(execution_options=_REPEATABLE)
        lead.execute(text("SET TRANSACTION READ ONLY"))
        snapshot = lead.scalar(text("SELECT pg_export_snapshot()"))
        if not isinstance(snapshot, str) or not _SNAPSHOT_ID.fullmatch(snapshot):
            raise RuntimeError(f"unexpected snapshot id from PostgreSQL: {snapshot!r}")
        for s in sessions[1:]:
            s.connection(execution_options=_REPEATABLE)
            s.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))  # must come first in the transaction
            s.execute(text("SET TRANSACTION READ ONLY"))
        yield sessions


def side_by_side(bind: Connectable, *reads: Callable[[Session], Any]) -> list[Any]:
    """Each read run with a session of its own, all at once on threads of their own, in one snapshot; their
    results in order. On a database that cannot share a snapshot they run one after the other on one session."""
    if not shares_snapshots(bind):
        with Session(bind=bind) as session:
            return [read(session) for read in reads]
    with shared_snapshot(bind, len(reads)) as sessions, ThreadPoolExecutor(len(reads)) as pool:
        return [f.result() for f in [pool.submit(read, s) for read, s in zip(reads, sessions, strict=True)]]
