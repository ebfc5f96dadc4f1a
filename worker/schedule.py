"""Every periodic job, declared once; run by RQ's cron scheduler or, in the demo, by a thread."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from croniter import croniter
from flask import Flask

from portal.payments import reconcile, recovery
from worker import billing_jobs, jobs, poller, rules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    """A job function and when it runs: every `interval` seconds, or on a `cron` line (UTC)."""

    func: Callable
    interval: int | None = None
    cron: str | None = None


PERIODIC: list[Periodic] = [
    Periodic(jobs.sweep_outbox, interval=15),
    Periodic(poller.schedule_polls, cron="* * * * *"),
    Periodic(billing_jobs.monthly_fees_job, cron=billing_jobs.FEES_CRON),  # 00:05 on the 1st, business time
    Periodic(billing_jobs.allocation_job, cron=billing_jobs.ALLOCATION_CRON),  # 00:30, the month just ended
    Periodic(rules.enforce_arrears, cron="* * * * *"),
    Periodic(recovery.sweep_open_orders, cron="* * * * *"),  # orders open past PAY_QUERY_AFTER_MINUTES
    Periodic(reconcile.daily_reconciliation, cron=reconcile.RECONCILE_CRON),  # 10:00 business time, yesterday
]


def build_cron_scheduler(connection):
    """An RQ CronScheduler with every periodic job registered on its queue."""
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=connection)
    for p in PERIODIC:
        scheduler.register(p.func, queue_name=p.func.queue, interval=p.interval, cron=p.cron,
                           job_timeout=p.func.timeout, name=p.func.job_name)
    return scheduler


class InProcessCron(threading.Thread):
    """The demo's scheduler: the same PERIODIC list, run on this process's job thread."""

    def __init__(self, app: Flask, tick: float = 1.0):
        super().__init__(name="payfirst-cron", daemon=True)
        self.app, self.tick = app, tick
        self.stopping = threading.Event()

    def run(self) -> None:
        runner = self.app.extensions["payfirst.dispatcher"].runner
        due = {p: self._next(p, time.time()) for p in PERIODIC}
        while not self.stopping.wait(self.tick):
            now = time.time()
            for p, at in due.items():
                if now >= at:
                    runner.submit(p.func, [])
                    due[p] = self._next(p, now)

    @staticmethod
    def _next(p: Periodic, now: float) -> float:
        if p.interval:
            return now + p.interval
        base = datetime.fromtimestamp(now, timezone.utc)
        return croniter(p.cron, base).get_next(datetime).timestamp()
