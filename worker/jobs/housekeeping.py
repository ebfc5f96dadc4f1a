"""Housekeeping jobs: the outbox sweep, which hands over rows left pending; the readings' partitions; sign-in
codes forgotten."""
from __future__ import annotations

import logging

from flask import current_app

from portal.extensions import db
from portal.metering.partitions import drop_expired, ensure_ahead
from portal.models import utcnow
from portal.notify.codes import forget_old_codes
from portal.settings import current
from worker.jobs.base import job

log = logging.getLogger(__name__)

#: rows younger than this were most likely handed over by their request already
SWEEP_GRACE_SECONDS = 30


@job("notify", timeout=60)
def sweep_outbox() -> int:
    """Hand over outbox rows left pending (Redis was down, or a process died after commit)."""
    return current_app.extensions["payfirst.dispatcher"].dispatch(grace=SWEEP_GRACE_SECONDS)


@job("reports", timeout=3600)
def readings_partitions_job() -> dict:
    """The 15-minute readings' monthly partitions: made ahead, and past READINGS_RETENTION_MONTHS dropped once
    their days are rolled up (PostgreSQL; nothing to do on SQLite)."""
    now = utcnow()
    created = ensure_ahead(db.session, now)
    dropped = drop_expired(db.session, now, current().polling.readings_retention_months)
    summary = {"created": created, "dropped": {d.name: d.rolled_up.rows for d in dropped}}
    if created or dropped:
        log.info("readings partitions: %s", summary)
    return summary


@job("reports", timeout=600)
def forget_sign_in_codes() -> dict:
    """Sign-in codes past a day deleted, and the codes blotted out of their sent messages."""
    codes, messages = forget_old_codes(db.session)
    db.session.commit()
    return {"codes": codes, "messages": messages}
