"""Keep-power (保电): a manager's approval that a shop's meter stays on whatever its balance, for a reason and
until an end.

A manager grants it at once (`grant_keep_power`); an electrician's request waits in the approval queue
(portal.approvals, kind keep_power) and runs the same grant when a manager approves it. Either way it keeps its
reason and its end on the meter (`keep_power_reason`, `keep_power_until`) and in the audit log. It ends by
itself: each minute the arrears job first ends every keep-power whose time is up (`end_expired_keep_power`,
set-wise, one audit entry per meter) and then applies the balance rules, so a shop in arrears goes off then.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.bulk import among, insert_rows
from portal.control.commands import CommandRefused, command_meter
from portal.control.polls import request_poll
from portal.models import AuditEntry, CommandStatus, ControlCommand, Meter, utcnow
from portal.models.meter import KEEP_POWER_PROFILES, SWITCHABLE_PROFILES

#: the longest keep-power one grant gives: a year; longer needs a new grant (and a new look at the shop)
MAX_TERM = timedelta(days=366)
#: who ends an expired keep-power in the ledger of actions
EXPIRY_ACTOR = "system:keep_power"


class KeepPowerRefused(CommandRefused):
    """Keep-power terms that cannot be granted; the message (translatable) is for the staff member."""


def check_terms(meter: Meter, reason: str, until: datetime | None, now: datetime) -> str:
    """Refuse what cannot be granted: a meter without relay or shop, no reason, an end past or too far; the
    reason, stripped."""
    if meter.profile not in SWITCHABLE_PROFILES:
        raise KeepPowerRefused(_l("Meter %(code)s has no relay or valve: nothing to keep on.", code=meter.code))
    if meter.account_id is None:
        raise KeepPowerRefused(_l("Meter %(code)s is a common-area meter: it is never switched off for arrears.",
                                  code=meter.code))
    reason = (reason or "").strip()
    if not reason:
        raise KeepPowerRefused(_l("Say why supply must stay on (the reason is kept in the audit log)."))
    if len(reason) > 200:
        raise KeepPowerRefused(_l("The reason is at most 200 characters."))
    if until is None:
        raise KeepPowerRefused(_l("Say when keep-power ends."))
    if until <= now:
        raise KeepPowerRefused(_l("Keep-power must end in the future."))
    if until > now + MAX_TERM:
        raise KeepPowerRefused(_l("Keep-power is granted for at most one year at a time."))
    return reason


def grant_keep_power(session: Session, meter: Meter, reason: str, until: datetime, actor: str,
                     now: datetime | None = None):
    """A manager's keep-power, from now until `until` (checked first); the command it records."""
    reason = check_terms(meter, reason, until, now or utcnow())
    return command_meter(session, meter, "keep_power_on", actor, reason, until=until)


def end_expired_keep_power(session: Session, now: datetime, actor: str = EXPIRY_ACTOR) -> list[int]:
    """End every keep-power whose end has come, set-wise; returns the meters' ids.

    One statement finds them (rows a poll cycle holds are left for the next minute), one ends them, one
    records a keep-power-off command per meter (a meter that keeps its own flag gets it written at the next
    poll) and one writes the audit entries; then each gateway concerned is asked to poll.
    """
    m = Meter.__table__
    found = session.execute(
        select(m.c.id, m.c.site_id, m.c.gateway_id, m.c.profile, m.c.keep_power_until, m.c.keep_power_reason)
        .where(m.c.keep_power.is_(True), m.c.keep_power_until.is_not(None), m.c.keep_power_until <= now)
        .order_by(m.c.id).with_for_update(skip_locked=True)
    ).all()
    if not found:
        return []
    ids = [row.id for row in found]
    session.execute(update(m).where(among(session, m.c.id, ids))
                    .values(keep_power=False, keep_power_until=None, keep_power_reason=None))
    insert_rows(session, ControlCommand.__table__, [dict(
        meter_id=row.id, action="keep_power_off", actor=actor, reason="expired", payload=None,
        status=CommandStatus.PENDING if row.profile in KEEP_POWER_PROFILES else CommandStatus.APPLIED,
        applied_at=None if row.profile in KEEP_POWER_PROFILES else now, error="", idempotency_key=None,
        created_at=now) for row in found])
    insert_rows(session, AuditEntry.__table__, [dict(
        at=now, actor=actor, action="meter.keep_power_expired", target_type="meter", target_id=row.id,
        site_id=row.site_id, ip=None,
        detail={"until": row.keep_power_until.isoformat(), "reason": row.keep_power_reason or "",
                "keep_power": False}) for row in found])
    for gateway_id in sorted({row.gateway_id for row in found}):
        request_poll(session, gateway_id)
    session.expire_all()  # meters loaded before now hold the old flag
    return ids
