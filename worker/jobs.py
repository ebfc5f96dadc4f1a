"""Jobs of general housekeeping; domain jobs live beside their feature (poller, payments...)."""
from __future__ import annotations

from flask import current_app

from portal.jobs import job


@job("notify", timeout=60)
def sweep_outbox() -> int:
    """Hand over outbox rows left pending (Redis was down, or a process died after commit)."""
    return current_app.extensions["payfirst.dispatcher"].dispatch()
