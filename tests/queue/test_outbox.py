"""Jobs go through the outbox: enqueued only after commit, never lost when Redis is down."""
from __future__ import annotations

import socket

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import EntryKind, LedgerEntry, OutboxMessage
from portal.queue.dispatch import connect_redis
from portal.queue.names import QUEUES
from portal.queue.outbox import enqueue
from worker.jobs.base import job


@job("payments")
def credit_for_test(account_id: int, amount_fen: int, key: str) -> None:
    """A job with a visible, idempotent effect: one ledger entry per key."""
    post_entry(db.session, account_id, amount_fen, EntryKind.ADJUSTMENT, key)


def entries() -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry))


def pending() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).where(OutboxMessage.dispatched_at.is_(None))).scalars().all()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_job_runs_only_after_commit(make_account):
    acct = make_account()
    enqueue(db.session, credit_for_test, acct.id, 100, "job:1")
    assert entries() == 0  # nothing ran inside the transaction
    db.session.commit()
    assert entries() == 1
    assert pending() == []


def test_rolled_back_transaction_enqueues_nothing(make_account):
    acct = make_account()
    enqueue(db.session, credit_for_test, acct.id, 100, "job:rolled-back")
    db.session.rollback()
    db.session.commit()
    assert entries() == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_unknown_queue_is_refused():
    with pytest.raises(ValueError):
        job("nonsense")


def test_rq_worker_runs_the_job_after_commit(redis_app, redis_url, make_account):
    acct = make_account()
    enqueue(db.session, credit_for_test, acct.id, 250, "job:rq")
    db.session.commit()
    conn = redis.Redis.from_url(redis_url)
    assert Queue("payments", connection=conn).count == 1
    SimpleWorker([Queue(q, connection=conn) for q in QUEUES], connection=conn).work(burst=True)
    db.session.expire_all()
    assert acct.balance_fen == 250


def test_commit_succeeds_while_redis_is_down_and_the_sweep_delivers_later(redis_app, redis_url, make_account):
    dispatcher = redis_app.extensions["payfirst.dispatcher"]
    live = dispatcher.redis
    dispatcher.redis = connect_redis(f"redis://127.0.0.1:{closed_port()}")
    acct = make_account()
    enqueue(db.session, credit_for_test, acct.id, 300, "job:outage")
    db.session.commit()  # accepted although Redis is down
    [row] = pending()
    assert row.attempts == 1 and "Connection" in row.last_error

    dispatcher.redis = live  # Redis is back; the periodic sweep hands the row over
    from worker.jobs.housekeeping import sweep_outbox

    assert sweep_outbox() == 1
    assert pending() == []
    SimpleWorker([Queue("payments", connection=live)], connection=live).work(burst=True)
    db.session.expire_all()
    assert acct.balance_fen == 300


def test_a_job_delivered_twice_has_one_effect(redis_app, redis_url, make_account):
    acct = make_account()
    enqueue(db.session, credit_for_test, acct.id, 400, "job:twice")
    db.session.commit()
    conn = redis.Redis.from_url(redis_url)
    # A worker dying after the effect but before acknowledging leads to a second run.
    Queue("payments", connection=conn).enqueue(credit_for_test, acct.id, 400, "job:twice")
    SimpleWorker([Queue("payments", connection=conn)], connection=conn).work(burst=True)
    db.session.expire_all()
    assert acct.balance_fen == 400
    assert entries() == 1


def test_healthz_reports_queue_down(redis_app):
    redis_app.extensions["payfirst.dispatcher"].redis = connect_redis(f"redis://127.0.0.1:{closed_port()}")
    response = redis_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "ok" and response.json["queue"].startswith("error")


def test_healthz_ok_with_redis(redis_app):
    response = redis_app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "queue": "ok",
                             "gateways": {"failing": [], "offline": []}}


def test_cron_scheduler_registers_every_periodic_job(redis_url):
    from zoneinfo import ZoneInfo

    from worker.schedule import build_cron_scheduler, periodic

    PERIODIC = periodic(ZoneInfo("Asia/Shanghai"))
    scheduler = build_cron_scheduler(redis.Redis.from_url(redis_url), ZoneInfo("Asia/Shanghai"))
    assert {j.func_name for j in scheduler.get_jobs()} == {p.func.job_name for p in PERIODIC}
    assert all(j.queue_name in QUEUES for j in scheduler.get_jobs())


def test_worker_command_needs_redis(runner):
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code != 0
    assert "REDIS_URL is not set" in result.output


def test_worker_command_refuses_unknown_queue(redis_app):
    result = redis_app.test_cli_runner().invoke(args=["worker", "--burst", "bogus"])
    assert result.exit_code != 0 and "unknown queue" in result.output


def test_worker_command_drains_named_queues(redis_app, make_account):
    acct = make_account()
    enqueue(db.session, credit_for_test, acct.id, 500, "job:cli")
    db.session.commit()
    result = redis_app.test_cli_runner().invoke(args=["worker", "--burst", "payments"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert acct.balance_fen == 500


def test_in_process_cron_submits_due_jobs(app, monkeypatch):
    from worker import schedule

    ran = []

    @job("reports")
    def tick() -> None:
        ran.append(1)

    monkeypatch.setattr(schedule, "periodic", lambda tz, poll_every: [schedule.Periodic(tick, interval=1)])
    cron = schedule.InProcessCron(app, tick=0.05)
    cron.start()
    try:
        import time

        deadline = time.monotonic() + 5
        while not ran and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        cron.stopping.set()
        cron.join(2)
    assert ran


def test_the_poll_jobs_are_queued_on_the_minute_or_every_poll_interval():
    from zoneinfo import ZoneInfo

    from worker.schedule import periodic

    on_the_minute = {p.func.job_name: p for p in periodic(ZoneInfo("Asia/Shanghai"))}
    every_30 = {p.func.job_name: p for p in periodic(ZoneInfo("Asia/Shanghai"), poll_every=30)}
    polls = "worker.jobs.polling.schedule_polls"
    assert (on_the_minute[polls].cron, on_the_minute[polls].interval) == ("* * * * *", None)
    assert (every_30[polls].cron, every_30[polls].interval) == (None, 30)


def test_a_row_a_statement_writes_itself_is_the_row_enqueue_writes(app):
    """`insert_for_each` (the notify's one statement writes its credit job with it) takes the queue, the name and
    every default from the same places as `enqueue`."""
    from datetime import UTC, datetime

    from portal.queue.names import CREDIT_ORDER
    from portal.queue.outbox import insert_for_each

    by_enqueue = db.session.get(OutboxMessage, enqueue(db.session, CREDIT_ORDER, 41))
    sql, params = insert_for_each("src", CREDIT_ORDER, "json_build_array(src.id)")
    at = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    [row_id] = db.session.connection().exec_driver_sql(
        f"WITH src AS (SELECT 41 AS id), box AS ({sql}) SELECT id FROM box", {**params, "outbox_created_at": at}
    ).scalars().all()
    by_statement = db.session.get(OutboxMessage, row_id)
    columns = [c.key for c in OutboxMessage.__table__.c if c.key not in ("id", "created_at")]
    assert {c: getattr(by_statement, c) for c in columns} == {c: getattr(by_enqueue, c) for c in columns}
    assert by_statement.created_at == at and by_statement.args == [41] and by_statement.queue == "payments"
    db.session.rollback()


def test_a_hand_over_that_fails_after_its_dedupe_claim_leaves_no_claim(redis_app, redis_url, make_account,
                                                                        monkeypatch):
    """The connection drops between the dedupe claim and the enqueue: the row stays pending, and the sweep enqueues
    its job instead of taking the stale claim for a job already waiting (a recovery's credit carries such a key)."""
    from redis.client import Pipeline

    real = Pipeline.execute
    dropped = []

    def drop_once(self, *args, **kwargs):
        if self.transaction and not dropped:
            dropped.append(True)
            raise redis.ConnectionError("connection dropped")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", drop_once)
    acct = make_account()
    enqueue(db.session, credit_for_test, acct.id, 350, "job:claimed", dedupe_key="credit:test")
    db.session.commit()
    [row] = pending()
    assert dropped and row.attempts == 1

    from worker.jobs.housekeeping import sweep_outbox

    assert sweep_outbox() == 1
    conn = redis.Redis.from_url(redis_url)
    assert Queue("payments", connection=conn).count == 1
    SimpleWorker([Queue("payments", connection=conn)], connection=conn).work(burst=True)
    db.session.expire_all()
    assert acct.balance_fen == 350
