"""Background jobs: the job decorator, the transactional outbox, RQ or the in-process runner.

Code that wants work done later calls `enqueue(...)` inside its transaction. That only writes an
outbox row; after the commit the row is handed to RQ (or, with REDIS_URL unset, to a thread in this
process). A Redis outage leaves rows pending and `sweep_outbox` hands them over when it returns, so
nothing accepted is lost and nothing waits on Redis.
"""
from __future__ import annotations

import functools
import logging
import queue as stdqueue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from flask import Flask, current_app, has_app_context
from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session

from portal.bulk import postgresql
from portal.extensions import db
from portal.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

QUEUES = ("payments", "control", "polling", "notify", "reports")
_REGISTRY: dict[str, Callable] = {}
_app: Flask | None = None


def job(queue: str, timeout: int = 300):
    """Declare a job: runs in an app context, one transaction, committed on success."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args, **kwargs):
            if has_app_context():
                return _in_transaction(func, args, kwargs)
            with _worker_app().app_context():
                return _in_transaction(func, args, kwargs)

        run.queue = queue
        run.timeout = timeout
        run.job_name = f"{func.__module__}.{func.__qualname__}"
        _REGISTRY[run.job_name] = run
        return run

    return decorate


def _in_transaction(func, args, kwargs):
    try:
        result = func(*args, **kwargs)
        db.session.commit()
        return result
    except BaseException:
        db.session.rollback()
        raise


def _worker_app() -> Flask:
    """The app of a worker process that imported a job without the Flask CLI."""
    global _app
    if _app is None:
        from portal import create_app

        _app = create_app()
    return _app


def enqueue(session: Session, func: Callable | str, *args, queue: str | None = None,
            dedupe_key: str | None = None) -> int:
    """Write an outbox row for `func(*args)`; it is dispatched only after the session commits. Returns its id.

    `func` may be a job's dotted name (with `queue`), so domain code need not import the worker. The row is
    one Core INSERT (no ORM unit of work: this is on the path of every payment notify).
    """
    if isinstance(func, str):
        if queue not in QUEUES:
            raise ValueError(f"a job named by string needs a known queue, got {queue!r}")
        name = func
    else:
        name, queue = func.job_name, func.queue
    table = OutboxMessage.__table__
    row_id = session.execute(insert(table).values(queue=queue, job=name, args=list(args), dedupe_key=dedupe_key)
                             .returning(table.c.id)).scalar_one()
    session.info.setdefault("outbox_ready", []).append(Handover(row_id, queue, name, list(args), dedupe_key))
    return row_id


def resolve(job_name: str) -> Callable:
    """The registered job function for a dotted name (importing its module if needed)."""
    if job_name not in _REGISTRY:
        import_module(job_name.rsplit(".", 1)[0])
    return _REGISTRY[job_name]


@dataclass(frozen=True)
class Handover:
    """An outbox row as written, handed over after its transaction commits."""

    id: int
    queue: str
    job: str
    args: list
    dedupe_key: str | None


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    ready = session.info.pop("outbox_ready", None)
    if ready and has_app_context():
        current_app.extensions["payfirst.dispatcher"].notify(ready)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("outbox_ready", None)


def redis_connection(app: Flask | None = None) -> redis.Redis | None:
    """The app's Redis connection, or None for the in-process queue."""
    app = app or current_app
    return app.extensions["payfirst.dispatcher"].redis


def connect_redis(url: str) -> redis.Redis:
    """A Redis client that fails fast: an outage must not hold up the request that committed."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1,
                                retry=Retry(NoBackoff(), retries=1))


class Dispatcher:
    """Moves committed outbox rows to their queue."""

    def __init__(self, app: Flask):
        self.app = app
        url = app.config["REDIS_URL"]
        self.redis = connect_redis(url) if url else None
        self.runner = None if self.redis else InProcessRunner(app)

    def notify(self, ready: list[Handover]) -> None:
        """Rows were committed: hand them over now (errors leave them for the sweep).

        With Redis this is the fast path of every payment notify: it enqueues and writes nothing to the
        database; the sweep later confirms the jobs exist and marks the rows dispatched.
        """
        try:
            if self.redis is None:
                self.dispatch([h.id for h in ready])
                return
            for h in ready:
                self._enqueue(h)
        except redis.RedisError as exc:
            log.warning("Redis unavailable (%s); outbox rows stay pending for the sweep", exc)
            self._record_failure([h.id for h in ready], exc)
        except Exception:  # never fail the request that committed; the sweep retries
            log.exception("outbox hand-over failed; rows stay pending for the sweep")

    def dispatch(self, ids: list[int] | None = None, limit: int = 500, grace: int = 0) -> int:
        """Enqueue pending rows (those in `ids`, or all) and mark them dispatched; returns how many.

        Rows younger than `grace` seconds that no hand-over attempt failed for are left alone: their
        fast path is probably still running. Rows whose job already exists in RQ are only marked.
        """
        from rq.job import Job

        with Session(db.engine) as s:
            q = select(OutboxMessage).where(OutboxMessage.dispatched_at.is_(None)).order_by(OutboxMessage.id)
            if ids is not None:
                q = q.where(OutboxMessage.id.in_(ids))
            if grace:
                q = q.where((OutboxMessage.attempts > 0) | (OutboxMessage.created_at < utcnow() - timedelta(seconds=grace)))
            if postgresql(s):
                q = q.with_for_update(skip_locked=True)
            rows = s.execute(q.limit(limit)).scalars().all()
            done = []
            for row in rows:
                try:
                    if self.redis is None or not Job.exists(f"outbox-{row.id}", connection=self.redis):
                        self._enqueue(Handover(row.id, row.queue, row.job, row.args, row.dedupe_key))
                    done.append(row.id)
                except redis.RedisError as exc:
                    s.execute(
                        update(OutboxMessage).where(OutboxMessage.id == row.id)
                        .values(attempts=OutboxMessage.attempts + 1, last_error=str(exc)[:300])
                    )
                    break  # Redis is down: the rest would fail the same way
            if done:
                s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(done)).values(dispatched_at=utcnow()))
            s.commit()
            return len(done)

    def _record_failure(self, ids: list[int], exc: Exception) -> None:
        try:
            with db.engine.begin() as conn:
                conn.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                             .values(attempts=OutboxMessage.attempts + 1, last_error=str(exc)[:300]))
        except Exception:  # the rows are pending either way; the sweep will find them
            log.exception("could not record the failed hand-over")

    def _enqueue(self, row: Handover) -> None:
        func = resolve(row.job)
        if self.redis is None:
            self.runner.submit(func, row.args)
            return
        from rq import Queue

        if row.dedupe_key and not self.redis.set(f"payfirst:dedupe:{row.dedupe_key}", row.id, nx=True, ex=120):
            return  # an identical job is already waiting
        Queue(row.queue, connection=self.redis).enqueue(
            func, *row.args, job_id=f"outbox-{row.id}", job_timeout=func.timeout,
            meta={"dedupe_key": row.dedupe_key} if row.dedupe_key else None,
        )


def release_dedupe(key: str | None) -> None:
    """Called when a deduplicated job starts, so a later request queues a fresh run."""
    conn = redis_connection()
    if key and conn is not None:
        conn.delete(f"payfirst:dedupe:{key}")


class InProcessRunner:
    """The demo's queue: one thread runs jobs in order, each in its own app context."""

    def __init__(self, app: Flask):
        self.app = app
        self.jobs: stdqueue.Queue = stdqueue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, func: Callable, args: list) -> None:
        """Run now (JOBS_INLINE, for tests) or on the background thread."""
        if self.app.config.get("JOBS_INLINE"):
            self._run(func, args)
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="payfirst-jobs", daemon=True)
                self.thread.start()
        self.jobs.put((func, args))

    def _loop(self) -> None:
        while True:
            func, args = self.jobs.get()
            self._run(func, args)

    def _run(self, func: Callable, args: list) -> None:
        with self.app.app_context():
            try:
                func(*args)
            except Exception:
                log.exception("job %s failed", func.job_name)
            finally:
                db.session.remove()


def init_app(app: Flask) -> None:
    """Attach the dispatcher to the app."""
    app.extensions["payfirst.dispatcher"] = Dispatcher(app)
