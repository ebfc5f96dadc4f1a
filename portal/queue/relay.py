"""The outbox relay: committed outbox rows handed to RQ from a process of their own.

Without a relay, the process that commits an outbox row hands it to RQ right after the commit: for a payment
notify that is most of a millisecond of Python (RQ's job, its serialization) and a Redis round trip on every
request. `flask --app wsgi relay` takes that work off the requests:

- it LISTENs on PostgreSQL's channel `payfirst_outbox`, which a trigger on the outbox (migration 0021) notifies
  in every transaction that writes outbox rows, so it wakes when they commit (and looks every second anyway);
- it hands over every pending row, a batch at a time (`Dispatcher.dispatch`: one round trip asks which jobs
  exist, one enqueues the others), and marks them dispatched;
- while it runs it keeps the Redis key RELAY_KEY alive; a process that sees the key leaves what it commits to
  the relay (`Dispatcher.notify`).

A relay told to stop (SIGTERM) gives up the key first, waits as long as a process trusts what it saw of the key
(RELAY_LOOK_EVERY), then hands over every row committed: none is left behind for the sweep. A relay that dies
stops renewing the key: within RELAY_TTL seconds the processes hand over their own rows again, and a relay that
starts (or the cron's sweep) finds every row left pending meanwhile. Two relays take different rows (the
batch is locked, SKIP LOCKED), and a job RQ already holds is never enqueued twice. The embedded demo (no
REDIS_URL) needs none: its rows run on its own job thread.
"""
from __future__ import annotations

import logging
import signal
import threading
import time

import psycopg
import redis
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.queue.dispatch import RELAY_KEY, RELAY_LOOK_EVERY, RELAY_TTL, Dispatcher

log = logging.getLogger(__name__)
#: the channel the outbox's trigger notifies (migration 0021)
CHANNEL = "payfirst_outbox"
#: rows handed over per batch; a full batch is followed by the next at once
BATCH = 500
#: seconds a busy relay lets rows gather before its next pass: a batch shares its round trips and its commit
GATHER = 0.05
#: seconds between looks at the outbox when no notification comes (one lost with a dropped connection, say)
IDLE_LOOK = 1.0


class Relay:
    """Hands committed outbox rows to RQ until `stop` is set."""

    def __init__(self, app: Flask, stop: threading.Event | None = None):
        self.app = app
        self.dispatcher: Dispatcher = app.extensions["payfirst.dispatcher"]
        if self.dispatcher.redis is None:
            raise RuntimeError("the outbox relay hands rows to RQ: set REDIS_URL")
        with app.app_context():
            if db.engine.dialect.name != "postgresql":
                raise RuntimeError("the outbox relay listens to PostgreSQL: DATABASE_URL is not PostgreSQL")
            self.url = _libpq_url()
        self.stop = stop or threading.Event()
        self.handed = 0

    def run(self) -> None:
        """Serve until stopped, then hand over what is pending; a lost database or Redis is waited out, a second
        at a time."""
        while not self.stop.is_set():
            try:
                self._serve()
            except (psycopg.Error, SQLAlchemyError, OSError) as exc:
                log.warning("outbox relay: %s; trying again in %.0f s", exc, IDLE_LOOK)
                self.stop.wait(IDLE_LOOK)

    def _serve(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            # Processes that saw no relay a moment ago may still be handing over rows they committed: the key
            # first, then a wait as long as they trust what they saw, then the rows.
            self._beat()
            self.stop.wait(RELAY_LOOK_EVERY)
            while not self.stop.is_set():
                self._beat()
                n = self._pass()
                if n == BATCH:
                    continue
                if n:  # rows are coming: the next pass takes what commits meanwhile, as one batch
                    self.stop.wait(GATHER)
                    continue
                for _ in listener.notifies(timeout=IDLE_LOOK, stop_after=1):
                    pass
            # Stopping: the key first, so that the processes hand over their own rows again; then a wait as long as
            # they trust what they saw of it, in which they may still leave rows here; then every row committed.
            self._release()
            time.sleep(RELAY_LOOK_EVERY)
            while self._pass() == BATCH:
                pass

    def _pass(self) -> int:
        with self.app.app_context():
            try:
                n = self.dispatcher.dispatch(limit=BATCH)
            finally:
                db.session.remove()
        self.handed += n
        return n

    def _beat(self) -> None:
        try:
            self.dispatcher.redis.set(RELAY_KEY, "1", ex=RELAY_TTL)
        except redis.RedisError as exc:  # a relay that cannot beat is not trusted: the requests hand over themselves
            log.warning("outbox relay: Redis unavailable (%s)", exc)

    def _release(self) -> None:
        try:
            self.dispatcher.redis.delete(RELAY_KEY)
        except redis.RedisError:
            pass  # the key expires by itself

    def close(self) -> None:
        """Stop, and let the processes hand over their own rows again at once."""
        self.stop.set()
        self._release()


def _libpq_url() -> str:
    """The app's database as a libpq address (psycopg's own, without SQLAlchemy's driver name)."""
    url = db.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def run_relay(app: Flask) -> None:
    """`flask --app wsgi relay`: serve until interrupted or terminated."""
    relay = Relay(app)
    signal.signal(signal.SIGTERM, lambda *_: relay.stop.set())
    started = time.monotonic()
    log.info("outbox relay: listening on %s", CHANNEL)
    try:
        relay.run()
    except KeyboardInterrupt:
        pass
    finally:
        relay.close()
        log.info("outbox relay: %d rows handed over in %.0f s", relay.handed, time.monotonic() - started)
