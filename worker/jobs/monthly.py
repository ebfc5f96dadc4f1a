"""Monthly billing jobs: the property fee on the 1st, the common-area allocation of the month just ended.

Both are idempotent (a rerun posts nothing), so the cron may fire twice or a person may rerun them.
"""
from __future__ import annotations

import logging
from datetime import datetime

from portal.extensions import db
from portal.models import utcnow
from portal.monthly.allocation import allocate
from portal.monthly.fees import run_fees
from portal.monthly.periods import month_of, previous_month
from portal.settings import business_tz
from worker.jobs.base import job

log = logging.getLogger(__name__)


def fee_month(now: datetime) -> str:
    """The month the fee job charges when it runs at `now`: the business month that has just begun."""
    return month_of(now, business_tz())


def allocation_period(now: datetime) -> str:
    """The period the allocation job allocates at `now`: the business month that has just ended."""
    return previous_month(month_of(now, business_tz()))


@job("reports", timeout=900)
def monthly_fees_job(month: str | None = None) -> dict:
    """Charge every site's property fee for `month` (default: the current business month)."""
    month = month or fee_month(utcnow())
    runs = run_fees(db.session, month, actor="system:fees")
    summary = {r.site_code: dict(charged=r.charged, posted_fen=r.posted_fen, arrears_fen=r.arrears_fen) for r in runs}
    log.info("property fee %s: %s", month, summary)
    return summary


@job("reports", timeout=900)
def allocation_job(period: str | None = None) -> dict:
    """Allocate every group's common consumption for `period` (default: the business month just ended)."""
    period = period or allocation_period(utcnow())
    outcomes = allocate(db.session, period, actor="system:allocation")
    summary = {f"{o.site_id}:{o.group_code}": o.status + (f" ({o.reason})" if o.reason else "") for o in outcomes}
    log.info("allocation %s: %s", period, summary)
    return summary
