"""The arrears job: each minute, decide again for every shop in arrears or off for arrears.

Billing and payments apply the balance rules when money moves. Time alone changes the answer too: a
warning period runs out, a no-trip window or a holiday ends (trip now) or begins (restore now), a
site's limits are edited. Shops in arrears are few, so the job simply re-applies the rules to all of
them; the rules only write when something changes, so running it twice is harmless.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, union
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.extensions import db
from portal.jobs import job
from portal.models import Account, Meter, Site, Supply, utcnow
from portal.rules import enforce_balance

log = logging.getLogger(__name__)
ACTOR = "system:arrears"


def arrears_candidates(session: Session) -> list[int]:
    """Ids of accounts at or below their site's trip threshold, or with a meter off for arrears."""
    in_arrears = (select(Account.id).join(Site, Site.id == Account.site_id)
                  .where(Account.balance_fen <= -Site.overdraft_limit_fen))
    tripped = select(Meter.account_id).where(
        Meter.supply_desired == Supply.OFF, Meter.desired_reason == "arrears", Meter.account_id.is_not(None))
    return sorted(session.execute(union(in_arrears, tripped)).scalars())


@job("control", timeout=120)
def enforce_arrears(now: datetime | None = None) -> int:
    """Re-apply the balance rules at `now` to every candidate account; returns how many meters switched."""
    session, now = db.session, now or utcnow()
    switched = 0
    for account_id in arrears_candidates(session):
        # A payment or a poll cycle holding the account applies the same rules itself: skip, never wait
        # (waiting could deadlock with a cycle that locks accounts in another order).
        account = session.execute(
            select(Account).where(Account.id == account_id).with_for_update(skip_locked=True, of=Account)
            .options(joinedload(Account.site), selectinload(Account.meters))
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if account is not None:
            switched += len(enforce_balance(session, account, actor=ACTOR, now=now))
    if switched:
        log.info("arrears: %d meter(s) switched", switched)
    return switched
