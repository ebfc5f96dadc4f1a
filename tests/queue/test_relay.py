"""The outbox relay (`flask --app wsgi relay`): committed rows reach RQ from its process, woken by their commit,
while the requests leave them alone; without a relay the requests hand over their own rows again."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest
import redis
from rq import Queue, SimpleWorker
from rq.utils import get_version
from sqlalchemy import func, select

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import EntryKind, LedgerEntry, OutboxMessage
from portal.queue import relay as relay_mod
from portal.queue.dispatch import RELAY_KEY, Handover, connect_redis
from portal.queue.outbox import enqueue
from portal.queue.relay import Relay
from tests.queue.test_outbox import closed_port
from worker.jobs.base import job


@job("payments")
def entry_for_relay_test(account_id: int, amount_fen: int, key: str) -> None:
    post_entry(db.session, account_id, amount_fen, EntryKind.ADJUSTMENT, key)


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()


def waiting(redis_url: str, queue: str = "payments") -> list[str]:
    return Queue(queue, connection=redis.Redis.from_url(redis_url)).get_job_ids()


def until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def running_relay(redis_app, monkeypatch):
    """A relay serving on a thread, and the app's dispatcher looking at it afresh; stopped afterwards."""
    monkeypatch.setattr(relay_mod, "IDLE_LOOK", 30.0)  # only a notification wakes it within a test's time
    monkeypatch.setattr(relay_mod, "RELAY_LOOK_EVERY", 0.05)
    relay = Relay(redis_app)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    dispatcher = redis_app.extensions["payfirst.dispatcher"]
    assert until(lambda: dispatcher.redis.exists(RELAY_KEY))
    time.sleep(0.1)  # its first pass is done: it now waits for a notification
    yield relay
    relay.close()
    thread.join(timeout=35)
    assert not thread.is_alive()


def test_a_committed_row_is_handed_over_by_the_relay_and_not_by_the_request(redis_app, redis_url, running_relay,
                                                                             make_account):
    acct = make_account()
    enqueue(db.session, entry_for_relay_test, acct.id, 700, "relay:1")
    db.session.commit()
    [row] = outbox()
    # the relay marks what it hands over; a request's hand-over leaves the row for the sweep to mark
    assert until(lambda: outbox()[0].dispatched_at is not None), "the relay did not wake on the commit"
    assert waiting(redis_url) == [f"outbox-{row.id}"]
    SimpleWorker([Queue("payments", connection=redis.Redis.from_url(redis_url))],
                 connection=redis.Redis.from_url(redis_url)).work(burst=True)
    db.session.expire_all()
    assert acct.balance_fen == 700 and running_relay.handed == 1


def test_a_request_leaves_its_rows_to_a_running_relay(redis_app, redis_url, make_account, monkeypatch):
    dispatcher = redis_app.extensions["payfirst.dispatcher"]
    dispatcher.redis.set(RELAY_KEY, "1", ex=5)  # a relay runs (on another machine, say) but is slow to wake
    acct = make_account()
    enqueue(db.session, entry_for_relay_test, acct.id, 100, "relay:left")
    db.session.commit()
    assert waiting(redis_url) == [] and outbox()[0].dispatched_at is None


def test_a_stopping_relay_first_hands_over_what_committed_while_it_waited(redis_app, redis_url, running_relay,
                                                                          make_account, monkeypatch):
    monkeypatch.setattr(relay_mod, "GATHER", 30.0)  # after a pass that found rows it waits long, in this test
    acct = make_account()
    enqueue(db.session, entry_for_relay_test, acct.id, 1, "relay:first")
    db.session.commit()
    assert until(lambda: running_relay.handed == 1)
    enqueue(db.session, entry_for_relay_test, acct.id, 1, "relay:while-it-waits")
    db.session.commit()
    time.sleep(0.2)
    assert outbox()[1].dispatched_at is None  # it waits, as told
    running_relay.close()
    assert until(lambda: outbox()[1].dispatched_at is not None)
    assert len(waiting(redis_url)) == 2 and running_relay.handed == 2


def test_rolled_back_rows_wake_nothing_and_committed_ones_wake_the_relay_once_committed(redis_app, make_account):
    with psycopg.connect(Relay(redis_app).url, autocommit=True) as listener:
        listener.execute(f"LISTEN {relay_mod.CHANNEL}")
        acct = make_account()
        enqueue(db.session, entry_for_relay_test, acct.id, 1, "relay:rolled-back")
        assert list(listener.notifies(timeout=0.3)) == []  # not before the commit
        db.session.rollback()
        assert list(listener.notifies(timeout=0.3)) == []
        for key in ("relay:a", "relay:b"):
            enqueue(db.session, entry_for_relay_test, acct.id, 1, key)
        db.session.commit()
        notes = list(listener.notifies(timeout=1.0))
        assert [n.channel for n in notes] == [relay_mod.CHANNEL]  # two rows, one transaction: one wake


def test_when_the_relay_stops_the_requests_hand_over_their_own_rows_again(redis_app, redis_url, running_relay,
                                                                        make_account):
    dispatcher = redis_app.extensions["payfirst.dispatcher"]
    running_relay.close()
    assert not dispatcher.redis.exists(RELAY_KEY)
    time.sleep(1.1)  # what the request saw of the relay has gone stale
    acct = make_account()
    enqueue(db.session, entry_for_relay_test, acct.id, 100, "relay:after")
    db.session.commit()
    [row] = outbox()
    assert waiting(redis_url) == [f"outbox-{row.id}"] and row.dispatched_at is None


def test_a_starting_relay_hands_over_what_was_left_pending_and_skips_jobs_rq_holds(redis_app, redis_url,
                                                                                  make_account, monkeypatch):
    dispatcher = redis_app.extensions["payfirst.dispatcher"]
    live = dispatcher.redis
    dispatcher.redis = connect_redis(f"redis://127.0.0.1:{closed_port()}")  # Redis down while they commit
    acct = make_account()
    for i in range(30):
        enqueue(db.session, entry_for_relay_test, acct.id, 10, f"relay:left:{i}")
    db.session.commit()
    dispatcher.redis = live
    rows = outbox()
    assert len(rows) == 30 and rows[0].attempts == 1
    # one of them reached RQ after all (a hand-over whose answer was lost): it is not enqueued a second time
    dispatcher._enqueue_all([Handover(rows[5].id, rows[5].queue, rows[5].job, rows[5].args, None)])
    monkeypatch.setattr(relay_mod, "RELAY_LOOK_EVERY", 0.0)
    relay = Relay(redis_app)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        assert until(lambda: all(r.dispatched_at is not None for r in outbox()))
    finally:
        relay.close()
        thread.join(timeout=35)
    assert sorted(waiting(redis_url)) == sorted(f"outbox-{r.id}" for r in rows)
    SimpleWorker([Queue("payments", connection=live)], connection=live).work(burst=True)
    db.session.expire_all()
    assert acct.balance_fen == 300
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 30


def test_a_batch_is_two_round_trips_to_redis_whatever_its_size(redis_app, redis_url, make_account, monkeypatch):
    dispatcher = redis_app.extensions["payfirst.dispatcher"]
    dispatcher.redis.set(RELAY_KEY, "1", ex=5)  # the rows stay pending for the dispatch below
    acct = make_account()
    for i in range(40):
        enqueue(db.session, entry_for_relay_test, acct.id, 1, f"relay:batch:{i}")
    db.session.commit()
    get_version(dispatcher.redis)  # RQ asks the server's version once per connection, then keeps it
    sent = []
    pool = dispatcher.redis.connection_pool
    real = pool.get_connection

    def counted(*args, **kwargs):
        conn = real(*args, **kwargs)
        if not getattr(conn, "_counted", False):
            send = conn.send_packed_command
            conn.send_packed_command = lambda *a, **k: (sent.append(1), send(*a, **k))[1]
            conn._counted = True
        return conn

    monkeypatch.setattr(pool, "get_connection", counted)
    assert dispatcher.dispatch() == 40
    assert len(sent) == 2
    assert len(waiting(redis_url)) == 40 and all(r.dispatched_at is not None for r in outbox())


def test_the_relay_needs_redis(runner):
    result = runner.invoke(args=["relay"])
    assert result.exit_code != 0 and "REDIS_URL is not set" in result.output


def test_a_stopping_relay_gives_up_its_key_before_its_last_pass(redis_app, redis_url, running_relay, make_account,
                                                                   monkeypatch):
    """Stopping (SIGTERM), the relay first gives up its key, then waits as long as a process trusts what it saw of the
    key, then hands over what committed: a row a process leaves to it meanwhile is not left to the sweep."""
    from portal.queue import dispatch as dispatch_mod

    monkeypatch.setattr(relay_mod, "RELAY_LOOK_EVERY", 0.5)  # both sides trust a look for half a second
    monkeypatch.setattr(dispatch_mod, "RELAY_LOOK_EVERY", 0.5)
    dispatcher = redis_app.extensions["payfirst.dispatcher"]
    acct = make_account()
    db.session.commit()
    dispatcher._relay_seen = (0.0, False)
    assert dispatcher.relay_running()  # a request has just looked: the relay runs
    running_relay.stop.set()  # as SIGTERM does
    with psycopg.connect(running_relay.url, autocommit=True) as conn:
        conn.execute(f"NOTIFY {relay_mod.CHANNEL}")  # a commit elsewhere wakes it; it finds itself stopping
    assert until(lambda: not dispatcher.redis.exists(RELAY_KEY), 0.4)
    enqueue(db.session, entry_for_relay_test, acct.id, 1, "relay:while-it-stops")
    db.session.commit()  # the request still trusts its look: it leaves the row to the relay
    assert until(lambda: outbox()[-1].dispatched_at is not None)
    assert len(waiting(redis_url)) == 1
