"""A worker killed in the middle of the credit job: its transaction is lost, and the sweep credits once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.models import Channel, EntryKind, LedgerEntry, OrderStatus, PaymentOrder, utcnow
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.orders import create_order
from portal.queue.dispatch import connect_redis
from portal.settings import PaymentSettings
from worker.jobs.payments import sweep_open_orders

CREDIT_STUCK_SECONDS = PaymentSettings().credit_stuck_seconds

ROOT = Path(__file__).resolve().parents[2]
#: a real RQ worker process whose credit job is killed (SIGKILL) after posting, before its commit
DYING_WORKER = textwrap.dedent("""
    import os, signal
    from rq import Queue, SimpleWorker
    from portal import create_app
    from portal.payments import credit

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    credit.after_money_in = die  # runs after the ledger entry is written, before the job commits
    app = create_app()
    with app.app_context():
        conn = app.extensions["payfirst.dispatcher"].redis
        SimpleWorker([Queue("payments", connection=conn)], connection=conn).work(burst=True)
""")


def payments(order: PaymentOrder) -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.order_id == order.id, LedgerEntry.kind == EntryKind.PAYMENT))


def test_a_worker_killed_in_the_middle_of_the_credit_job_leads_to_exactly_one_credit(
        redis_app, redis_url, database_url, make_account):
    account = make_account(balance_fen=-500)
    order = create_order(db.session, account, 10_000, Channel.ALIPAY_WAP, "test")
    db.session.commit()
    accept_payment(db.session, VerifiedPayment("alipay", order.out_trade_no, "2026113022001", 10_000, True))
    db.session.commit()  # the credit job is now queued in Redis

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "test-secret"}
    died = subprocess.run([sys.executable, "-c", DYING_WORKER], cwd=ROOT, env=env, capture_output=True,
                          timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
    db.session.expire_all()
    assert (db.session.get(PaymentOrder, order.id).status, payments(order)) == (OrderStatus.PAID, 0)

    later = utcnow() + timedelta(seconds=CREDIT_STUCK_SECONDS + 1)
    assert sweep_open_orders(later)["requeued"] == 1
    conn = connect_redis(redis_url)
    SimpleWorker([Queue("payments", connection=conn)], connection=conn).work(burst=True)

    db.session.expire_all()
    assert (db.session.get(PaymentOrder, order.id).status, payments(order)) == (OrderStatus.CREDITED, 1)
    assert db.session.get(type(account), account.id).balance_fen == 9_500
    assert sweep_open_orders(later)["requeued"] == 0
    assert ledger_mismatches(db.session) == []
