"""Housekeeping jobs: the outbox sweep, which hands over rows left pending."""
from __future__ import annotations

from flask import current_app

from worker.jobs.base import job

#: rows younger than this were most likely handed over by their request already
SWEEP_GRACE_SECONDS = 30


@job("notify", timeout=60)
def sweep_outbox() -> int:
    """Hand over outbox rows left pending (Redis was down, or a process died after commit)."""
    return current_app.extensions["payfirst.dispatcher"].dispatch(grace=SWEEP_GRACE_SECONDS)
