"""Control jobs: each minute, end the keep-powers whose time is up, then decide again for every shop in arrears or
off for arrears."""
from __future__ import annotations

import logging
from datetime import datetime

from portal.control import balance
from portal.control.keep_power import end_expired_keep_power
from portal.extensions import db
from portal.models import utcnow
from worker.jobs.base import job

log = logging.getLogger(__name__)
ACTOR = "system:arrears"


@job("control", timeout=120)
def enforce_arrears(now: datetime | None = None) -> int:
    """End expired keep-power, then re-apply the balance rules at `now` to every candidate account (a shop whose
    keep-power just ended among them); returns how many meters switched."""
    now = now or utcnow()
    ended = end_expired_keep_power(db.session, now)
    if ended:
        log.info("keep-power: ended for %d meter(s)", len(ended))
    switched = balance.enforce_arrears(db.session, now, actor=ACTOR)
    if switched:
        log.info("arrears: %d meter(s) switched", switched)
    return switched
