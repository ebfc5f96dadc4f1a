"""Payment jobs: credit a paid order, sweep orders left open, reconcile yesterday's bills."""
from __future__ import annotations

from datetime import date, datetime

from portal.extensions import db
from portal.models import utcnow
from portal.payments import credit, reconciliation, recovery
from portal.queue.dispatch import release_dedupe
from worker.jobs.base import job


@job("payments", timeout=60)
def credit_order(order_id: int) -> bool:
    """Credit a paid order exactly once (safe to run any number of times, concurrently too)."""
    release_dedupe(f"credit:{order_id}")  # a sweep may queue this credit again from now on
    return credit.credit_paid_order(db.session, order_id)


@job("payments", timeout=300)
def sweep_open_orders(now: datetime | str | None = None) -> dict:
    """Query, credit or close every order left open (`payments sweep` and the cron, every minute)."""
    return recovery.sweep_open_orders(db.session, _as_time(now))


@job("reports", timeout=900)
def daily_reconciliation(day: str | None = None) -> dict:
    """Download yesterday's bills (or `day`'s, YYYY-MM-DD), reconcile, and alarm on each mismatch."""
    the_day = date.fromisoformat(day) if day else reconciliation.yesterday()
    return reconciliation.reconcile_day(db.session, the_day)


def _as_time(now: datetime | str | None) -> datetime:
    if now is None:
        return utcnow()
    if isinstance(now, str):  # a job argument that went through a queue
        now = datetime.fromisoformat(now)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now
