"""A shop meter's power limit: what a manager may set, checked when it is asked for (before anything is queued).

The platform trips a meter that draws more than its limit for a few reads (worker.poller); a meter with a limit
register (POWER_LIMIT_PROFILES) gets the limit written at its next poll too, in 0.01 kW steps up to 655.35 kW.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.control.commands import CommandRefused
from portal.control.polls import request_poll
from portal.models import Meter
from portal.models.meter import POWER_LIMIT_MAX_W, POWER_LIMIT_PROFILES, POWER_LIMIT_STEP_W

#: what a shop's limit may be: from a small kiosk's 100 W to 1,000 kW (a supermarket's whole supply)
LIMIT_MIN_W, LIMIT_MAX_W = 100, 1_000_000


class LimitRefused(CommandRefused):
    """A power limit that cannot be set; the message (translatable) says the bounds."""


def check_power_limit(meter: Meter, limit_w: int | None) -> None:
    """Refuse a limit outside LIMIT_MIN_W..LIMIT_MAX_W, or one the meter's own register cannot hold."""
    if limit_w is None:
        return
    if type(limit_w) is not int or not LIMIT_MIN_W <= limit_w <= LIMIT_MAX_W:
        raise LimitRefused(_l("The power limit is %(low)s W to %(high)s W (blank: no limit).",
                              low=f"{LIMIT_MIN_W:,}", high=f"{LIMIT_MAX_W:,}"))
    if meter.profile in POWER_LIMIT_PROFILES and (limit_w > POWER_LIMIT_MAX_W or limit_w % POWER_LIMIT_STEP_W):
        raise LimitRefused(_l("Meter %(code)s keeps its limit in steps of %(step)s W up to %(high)s W.",
                              code=meter.code, step=POWER_LIMIT_STEP_W, high=f"{POWER_LIMIT_MAX_W:,}"))


def set_power_limit(session: Session, meter: Meter, limit_w: int | None, actor: str) -> bool:
    """Set (or, with None, remove) a meter's power limit, audited; True when it changed."""
    check_power_limit(meter, limit_w)
    if meter.power_limit_w == limit_w:
        return False
    audit(session, actor, "meter.power_limit", "meter", meter.id, meter.site_id,
          changed={"power_limit_w": [meter.power_limit_w, limit_w]})
    meter.power_limit_w = limit_w
    request_poll(session, meter.gateway_id)
    return True
