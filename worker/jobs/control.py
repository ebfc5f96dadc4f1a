"""Control jobs: each minute, decide again for every shop in arrears or off for arrears."""
from __future__ import annotations

import logging
from datetime import datetime

from portal.control import balance
from portal.extensions import db
from portal.models import utcnow
from worker.jobs.base import job

log = logging.getLogger(__name__)
ACTOR = "system:arrears"


@job("control", timeout=120)
def enforce_arrears(now: datetime | None = None) -> int:
    """Re-apply the balance rules at `now` to every candidate account; returns how many meters switched."""
    switched = balance.enforce_arrears(db.session, now or utcnow(), actor=ACTOR)
    if switched:
        log.info("arrears: %d meter(s) switched", switched)
    return switched
