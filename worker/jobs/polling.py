"""Polling jobs: one job per gateway, enqueued every minute by the cron and at once after any command."""
from __future__ import annotations

import time

from sqlalchemy import select

from portal.control.polls import record_poll_failure, request_poll
from portal.extensions import db
from portal.metrics.polls import record_poll_seconds
from portal.models import Gateway
from portal.queue.dispatch import redis_connection, release_dedupe
from worker.jobs.base import job
from worker.poller import CycleStats, run_cycle


@job("polling", timeout=300)
def poll_gateway_job(gateway_id: int) -> CycleStats:
    """Poll one gateway now (the cron's minute job, or right after a command)."""
    release_dedupe(f"poll:{gateway_id}")
    started = time.perf_counter()
    try:
        stats = run_cycle(db.session, [gateway_id])
        record_poll_seconds(redis_connection(), gateway_id, time.perf_counter() - started)  # for /metrics
        return stats
    except Exception as exc:
        # Nothing of the cycle is kept, but the failure is: a gateway alarm (and /healthz lists the gateway)
        # in a transaction of its own, then the job fails as it would have.
        db.session.rollback()
        record_poll_failure(db.session, gateway_id, f"{type(exc).__name__}: {exc}"[:200])
        db.session.commit()
        raise


@job("polling", timeout=60)
def schedule_polls() -> int:
    """Enqueue one poll job per gateway; a gateway whose job still waits is not queued twice."""
    ids = db.session.execute(select(Gateway.id).order_by(Gateway.id)).scalars().all()
    for gateway_id in ids:
        request_poll(db.session, gateway_id)
    return len(ids)
