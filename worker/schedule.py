"""Every periodic job, declared once; run by RQ's cron scheduler or, in the demo, by a thread."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from zoneinfo import ZoneInfo

from croniter import croniter
from flask import Flask
from rq.cron import CronScheduler

from worker.jobs import control, housekeeping, monthly, notify, payments, polling

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    """A job function and when it runs: every `interval` seconds, or on a `cron` line (UTC)."""

    func: Callable
    interval: int | None = None
    cron: str | None = None


def periodic(tz: ZoneInfo, poll_every: int = 60) -> list[Periodic]:
    """Every periodic job, with its cron lines for the business time zone `tz`; the gateways' poll jobs queued
    every `poll_every` seconds (POLL_INTERVAL_SECONDS: on the minute when 60)."""
    polls = Periodic(polling.schedule_polls, cron="* * * * *") if poll_every == 60 else \
        Periodic(polling.schedule_polls, interval=poll_every)
    return [
        Periodic(housekeeping.sweep_outbox, interval=15),
        polls,
        Periodic(monthly.monthly_fees_job, cron=monthly_cron(0, 5, tz)),  # 00:05 on the 1st, business time
        Periodic(monthly.allocation_job, cron=monthly_cron(0, 30, tz)),  # 00:30, the month just ended
        Periodic(control.enforce_arrears, cron="* * * * *"),
        Periodic(payments.sweep_open_orders, cron="* * * * *"),  # orders open past PAY_QUERY_AFTER_MINUTES
        # retries and the ends of quiet hours come due, dead senders' deliveries are recovered, the modem woken
        Periodic(notify.send_notifications, cron="* * * * *"),
        Periodic(payments.daily_reconciliation, cron=daily_cron(10, 0, tz)),  # 10:00 business time, yesterday
        Periodic(housekeeping.readings_partitions_job, cron=daily_cron(3, 20, tz)),  # months ahead; retention
        Periodic(housekeeping.forget_sign_in_codes, interval=3600),
    ]


def daily_cron(hour: int, minute: int, tz: ZoneInfo) -> str:
    """The UTC cron line for hour:minute every day in `tz` (a zone without summer time)."""
    offset = datetime.combine(date(2001, 1, 1), time_of_day(hour, minute), tz).utcoffset() or timedelta(0)
    minutes = (hour * 60 + minute - int(offset.total_seconds() // 60)) % 1440
    return f"{minutes % 60} {minutes // 60} * * *"


def monthly_cron(day_hour: int, minute: int, tz: ZoneInfo) -> str:
    """The UTC cron line for the 1st of every month at hour:minute business time.

    East of UTC that moment falls on the previous day, the last of the month: croniter's `L`.
    Zones with summer time would drift by an hour half the year; Asia/Shanghai has none.
    """
    offset = datetime.combine(date(2001, 1, 1), time_of_day(day_hour, minute), tz).utcoffset() or timedelta(0)
    minutes = day_hour * 60 + minute - int(offset.total_seconds() // 60)
    day = "1"
    if minutes < 0:
        minutes, day = minutes + 1440, "L"
    elif minutes >= 1440:
        minutes, day = minutes - 1440, "2"
    return f"{minutes % 60} {minutes // 60} {day} * *"


def build_cron_scheduler(connection, tz: ZoneInfo, poll_every: int = 60):
    """An RQ CronScheduler with every periodic job registered on its queue."""
    scheduler = CronScheduler(connection=connection)
    for p in periodic(tz, poll_every):
        scheduler.register(p.func, queue_name=p.func.queue, interval=p.interval, cron=p.cron,
                           job_timeout=p.func.timeout, name=p.func.job_name)
    return scheduler


class InProcessCron(threading.Thread):
    """The demo's scheduler: the same PERIODIC list, run on this process's job thread."""

    def __init__(self, app: Flask, tick: float = 1.0):
        super().__init__(name="payfirst-cron", daemon=True)
        self.app, self.tick = app, tick
        settings = app.config["SETTINGS"]
        self.jobs = periodic(settings.core.tz, settings.polling.interval)
        self.stopping = threading.Event()

    def run(self) -> None:
        runner = self.app.extensions["payfirst.dispatcher"].runner
        due = {p: self._next(p, time.time()) for p in self.jobs}
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
        base = datetime.fromtimestamp(now, UTC)
        return croniter(p.cron, base).get_next(datetime).timestamp()
