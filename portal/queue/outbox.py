"""The transactional outbox: work asked for inside a transaction is handed over only after it commits.

Code that wants work done later calls `enqueue(...)` inside its transaction. That only writes an
outbox row; after the commit the row is handed to RQ (or, with REDIS_URL unset, to a thread in this
process) by `portal.queue.dispatch`. A Redis outage leaves rows pending and the outbox sweep hands them
over when it returns, so nothing accepted is lost and nothing waits on Redis.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from flask import current_app, has_app_context
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from portal.logs import request_id
from portal.models import OutboxMessage
from portal.queue.names import QUEUES, JobRef


@dataclass(frozen=True)
class Handover:
    """An outbox row as written, handed over after its transaction commits."""

    id: int
    queue: str
    job: str
    args: list
    dedupe_key: str | None
    #: the web request that asked for the job (portal.logs), carried in its RQ meta; None for rows the sweep finds
    request_id: str | None = None


def enqueue(session: Session, func, *args, queue: str | None = None, dedupe_key: str | None = None,
            once: bool = False) -> int | None:
    """Write an outbox row for `func(*args)`; it is dispatched only after the session commits. Returns its id.

    `func` is a `JobRef` of `portal.queue.names`, a job function (it carries `job_name` and `queue`), or a
    dotted name with `queue`. The row is one Core INSERT (no ORM unit of work: this is on the path of every
    payment notify). With `once`, a transaction that asked for the job of `dedupe_key` already writes nothing
    (None): code that runs once per shop of a burst asks for its follow-up job once, not once per shop.
    """
    if once and any(h.dedupe_key == dedupe_key for h in session.info.get("outbox_ready", ())):
        return None
    if isinstance(func, JobRef):
        name, queue = func
    elif isinstance(func, str):
        name = func
    else:
        name, queue = func.job_name, func.queue
    if queue not in QUEUES:
        raise ValueError(f"job {name} needs a known queue, got {queue!r}")
    table = OutboxMessage.__table__
    row_id = session.execute(insert(table).values(queue=queue, job=name, args=list(args), dedupe_key=dedupe_key)
                             .returning(table.c.id)).scalar_one()
    handed_over(session, row_id, JobRef(name, queue), list(args), dedupe_key)
    return row_id


def handed_over(session: Session, row_id: int, job: JobRef, args: list, dedupe_key: str | None = None) -> None:
    """An outbox row written in this transaction (by `enqueue`, or by a statement of its own) is to be handed over
    once it commits."""
    session.info.setdefault("outbox_ready", []).append(Handover(row_id, job.queue, job.name, args, dedupe_key,
                                                                  request_id()))


@cache
def insert_for_each(source: str, job: JobRef, args_sql: str) -> tuple[str, dict]:
    """For a statement that writes its outbox rows itself (a payment notify's one statement): the SQL of an INSERT
    of one row for `job` per row of `source` (a CTE earlier in the statement), its args the JSON array `args_sql`,
    returning the row's `id`; and the parameters it takes, but for `outbox_created_at`, which the caller gives.

    Every other column takes what `enqueue` would give it: the job's queue and name, and the model's own defaults.
    The row is handed over by `committed_alone` or `handed_over`, as its transaction goes."""
    sql, params = _insert_for_each(source, job, args_sql)
    return sql, dict(params)


@lru_cache(maxsize=32)
def _insert_for_each(source: str, job: JobRef, args_sql: str) -> tuple[str, dict]:
    """`insert_for_each`, written once per shape (a payment notify's is the same every time)."""
    if job.queue not in QUEUES:
        raise ValueError(f"job {job.name} needs a known queue, got {job.queue!r}")
    table = OutboxMessage.__table__
    params = {"queue": job.queue, "job": job.name}
    params |= {c.name: c.default.arg for c in table.c
               if c.name not in params and c.default is not None and c.default.is_scalar}
    columns = [*params, "args", "created_at"]
    values = [f"%(outbox_{name})s" for name in params] + [args_sql, "%(outbox_created_at)s"]
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source} "
           f"RETURNING {table.c.id.name}")
    return sql, {f"outbox_{name}": value for name, value in params.items()}


def committed_alone(row_id: int, job: JobRef, args: list) -> None:
    """An outbox row committed by a statement of its own (outside any session's transaction) is handed over now."""
    if has_app_context():
        current_app.extensions["payfirst.dispatcher"].notify([Handover(row_id, job.queue, job.name, args, None,
                                                                       request_id())])


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    ready = session.info.pop("outbox_ready", None)
    if ready and has_app_context():
        current_app.extensions["payfirst.dispatcher"].notify(ready)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("outbox_ready", None)
