"""Master and sub-meters (总表/分表): which meter feeds which, for the line loss of a master meter.

A meter's master is a meter of the same site and kind (electricity is not compared with water), and the links
form trees: a meter cannot be its own master, directly or through its master's masters, or line loss would count
a meter inside itself. Every change is audited with the master before and after; the verb only flushes.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Meter


class WiringError(ValueError):
    """A master/sub link that is refused; the message is for the manager."""


def set_master(session: Session, meter: Meter, master: Meter | None, actor: str) -> bool:
    """Make `master` the meter's master (None: it has none); whether it changed."""
    if master is not None:
        if master.site_id != meter.site_id:
            raise WiringError(_l("%(code)s is not a meter of this site.", code=master.code))
        if master.kind != meter.kind:
            raise WiringError(_l("%(sub)s and %(master)s measure different things (electricity, water): a master "
                                 "meter feeds meters of its own kind.", sub=meter.code, master=master.code))
        if master.id == meter.id or meter.id in _masters_above(session, master):
            raise WiringError(_l("%(master)s is fed through %(sub)s already: making it %(sub)s's master would make "
                                 "a loop.", master=master.code, sub=meter.code))
    before = meter.parent_meter_id
    after = master.id if master is not None else None
    if before == after:
        return False
    previous = session.get(Meter, before) if before is not None else None
    meter.parent_meter_id = after
    session.flush()
    audit(session, actor, "meter.master_set", "meter", meter.id, meter.site_id,
          changed={"master": [previous.code if previous else None, master.code if master else None]})
    return True


def _masters_above(session: Session, meter: Meter) -> set[int]:
    """The ids of the meter and every meter above it (its master, its master's master...)."""
    seen = {meter.id}
    parent = meter.parent_meter_id
    while parent is not None and parent not in seen:  # `seen` also stops at a loop left by older data
        seen.add(parent)
        parent = session.get(Meter, parent).parent_meter_id
    return seen
