"""Handing committed outbox rows to their queue: RQ on Redis, or the demo's in-process runner."""
from __future__ import annotations

import logging
import queue as stdqueue
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from importlib import import_module

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.job import Job
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.bulk import postgresql
from portal.extensions import db
from portal.logs import job_context, request_id
from portal.models import OutboxMessage, utcnow
from portal.queue.names import FORMER_NAMES
from portal.queue.outbox import Handover

log = logging.getLogger(__name__)
#: the key a running outbox relay (portal.queue.relay) keeps alive, for RELAY_TTL seconds at a time
RELAY_KEY = "payfirst:outbox:relay"
RELAY_TTL = 5
#: how long a process goes by what it last saw of the relay before it looks again (one Redis round trip)
RELAY_LOOK_EVERY = 1.0
#: a job with a dedupe key claims `DEDUPE_PREFIX + key` while it waits (released when it starts), at most this long
DEDUPE_PREFIX, DEDUPE_SECONDS = "payfirst:dedupe:", 120


def resolve(job_name: str) -> Callable:
    """The job function of a dotted name (`worker.jobs...`), importing its module; LookupError if it is none.

    By import rather than by a registry the worker fills: the portal never imports the worker's modules
    itself (they import the drivers), exactly as RQ finds a job from its name.
    """
    job_name = FORMER_NAMES.get(job_name, job_name)
    module_name, _, attribute = job_name.rpartition(".")
    try:
        func = getattr(import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        raise LookupError(f"no job {job_name}") from None
    if getattr(func, "job_name", None) is None:
        raise LookupError(f"{job_name} is not a job (see worker.jobs.base.job)")
    return func


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
        self._relay_seen = (float("-inf"), False)  # (when, whether a relay was running)

    def notify(self, ready: list[Handover]) -> None:
        """Rows were committed: hand them over now (errors leave them for the sweep), unless a relay runs.

        With Redis this is the path of every payment notify. While an outbox relay runs it hands the rows over
        from its own process, woken by their commit, and the request answers without talking to Redis (but
        once a second, to see that the relay still runs). Without one the rows are enqueued here, which writes
        nothing to the database; the sweep later confirms the jobs exist and marks the rows dispatched.
        """
        try:
            if self.redis is None:
                self.dispatch([h.id for h in ready])
                return
            if self.relay_running():
                return
            self._enqueue_all(ready, just_committed=True)
        except redis.RedisError as exc:
            log.warning("Redis unavailable (%s); outbox rows stay pending for the sweep", exc)
            self._record_failure([h.id for h in ready], exc)
        except Exception:  # never fail the request that committed; the sweep retries
            log.exception("outbox hand-over failed; rows stay pending for the sweep")

    def relay_running(self) -> bool:
        """Whether an outbox relay runs (its key is alive), as last seen at most RELAY_LOOK_EVERY seconds ago."""
        seen_at, running = self._relay_seen
        now = time.monotonic()
        if now - seen_at >= RELAY_LOOK_EVERY:
            try:
                running = bool(self.redis.exists(RELAY_KEY))
            except redis.RedisError:
                running = False  # the hand-over here will fail the same way, and say so
            self._relay_seen = (now, running)
        return running

    def dispatch(self, ids: list[int] | None = None, limit: int = 500, grace: int = 0) -> int:
        """Enqueue pending rows (those in `ids`, or all) and mark them dispatched; returns how many.

        Rows younger than `grace` seconds that no hand-over attempt failed for are left alone: their
        fast path is probably still running. Rows whose job already exists in RQ are only marked. With Redis
        a batch is two round trips, whatever its size: which jobs exist, then the others enqueued together.
        """
        box = OutboxMessage.__table__  # plain rows, one UPDATE: a relay hands hundreds a second over
        with Session(db.engine) as s:
            q = (select(box.c.id, box.c.queue, box.c.job, box.c.args, box.c.dedupe_key)
                 .where(box.c.dispatched_at.is_(None)).order_by(box.c.id))
            if ids is not None:
                q = q.where(box.c.id.in_(ids))
            if grace:
                q = q.where((box.c.attempts > 0) | (box.c.created_at < utcnow() - timedelta(seconds=grace)))
            if postgresql(s):
                q = q.with_for_update(skip_locked=True)
            rows = s.execute(q.limit(limit)).all()
            done = [row.id for row in rows]
            try:
                self._enqueue_all([Handover(r.id, r.queue, r.job, r.args, r.dedupe_key) for r in rows])
            except redis.RedisError as exc:  # Redis is down: nothing of the batch was enqueued
                done = []
                if rows:
                    s.execute(update(box).where(box.c.id == rows[0].id)
                              .values(attempts=box.c.attempts + 1, last_error=str(exc)[:300]))
            if done:
                s.execute(update(box).where(box.c.id.in_(done)).values(dispatched_at=utcnow()))
            s.commit()
            return len(done)

    def _record_failure(self, ids: list[int], exc: Exception) -> None:
        try:
            with db.engine.begin() as conn:
                conn.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                             .values(attempts=OutboxMessage.attempts + 1, last_error=str(exc)[:300]))
        except Exception:  # the rows are pending either way; the sweep will find them
            log.exception("could not record the failed hand-over")

    def _enqueue_all(self, rows: list[Handover], *, just_committed: bool = False) -> None:
        """Enqueue the rows' jobs that RQ does not hold yet. With Redis: one round trip asks which exist (none can
        for rows `just_committed`: it is skipped), one enqueues the others (RQ's commands in one MULTI/EXEC); a row
        with a dedupe key costs one more."""
        if self.redis is None:
            for row in rows:
                self.runner.submit(resolve(row.job), row.args)
            return
        fresh = rows
        if not just_committed:
            with self.redis.pipeline(transaction=False) as pipe:
                for row in rows:
                    pipe.exists(Job.key_for(f"outbox-{row.id}"))
                fresh = [row for row, there in zip(rows, pipe.execute()) if not there]
        by_queue: dict[str, list] = {}
        claimed: list[str] = []  # the dedupe keys this batch took: released if its jobs do not get in
        for row in fresh:
            if row.dedupe_key:
                key = f"{DEDUPE_PREFIX}{row.dedupe_key}"
                if not self.redis.set(key, row.id, nx=True, ex=DEDUPE_SECONDS):
                    continue  # an identical job is already waiting
                claimed.append(key)
            func = resolve(row.job)
            by_queue.setdefault(row.queue, []).append(Queue.prepare_data(
                func, row.args, timeout=func.timeout, job_id=f"outbox-{row.id}", meta=_meta(row)))
        if not by_queue:
            return
        try:
            with self.redis.pipeline() as pipe:
                for name, jobs in by_queue.items():
                    Queue(name, connection=self.redis).enqueue_many(jobs, pipeline=pipe)
                pipe.execute()
        except redis.RedisError:
            # the rows stay pending; a claim left behind would make their retry pass for a job already waiting
            if claimed:
                try:
                    self.redis.delete(*claimed)
                except redis.RedisError:
                    pass  # they expire within DEDUPE_SECONDS
            raise


def _meta(row: Handover) -> dict | None:
    """The job's RQ meta: its dedupe key (released when it starts) and the request that asked for it (its logs)."""
    meta = {"dedupe_key": row.dedupe_key, "request_id": row.request_id}
    return {k: v for k, v in meta.items() if v} or None


def release_dedupe(key: str | None) -> None:
    """Called when a deduplicated job starts, so a later request queues a fresh run."""
    conn = redis_connection()
    if key and conn is not None:
        conn.delete(f"{DEDUPE_PREFIX}{key}")


class InProcessRunner:
    """The demo's queue: one thread runs jobs in order, each in its own app context."""

    def __init__(self, app: Flask):
        self.app = app
        self.jobs: stdqueue.Queue = stdqueue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, func: Callable, args: list) -> None:
        """Run now (JOBS_INLINE, for tests) or on the background thread; its logs name the request that asked
        (the one committing now: the hand-over runs right after the commit, in the request)."""
        asked_by = request_id()
        if self.app.config.get("JOBS_INLINE"):
            self._run(func, args, asked_by)
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="payfirst-jobs", daemon=True)
                self.thread.start()
        self.jobs.put((func, args, asked_by))

    def _loop(self) -> None:
        while True:
            func, args, asked_by = self.jobs.get()
            self._run(func, args, asked_by)

    def _run(self, func: Callable, args: list, asked_by: str | None) -> None:
        with job_context(func.job_name, asked_by), self.app.app_context():
            try:
                func(*args)
            except Exception:
                log.exception("job %s failed", func.job_name)
            finally:
                db.session.remove()


def init_app(app: Flask) -> None:
    """Attach the dispatcher to the app."""
    app.extensions["payfirst.dispatcher"] = Dispatcher(app)
