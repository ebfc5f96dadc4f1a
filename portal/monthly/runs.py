"""The monthly runs as a person starts them from the billing page: the same verbs as the command line and the
schedule (run_fees, allocate), for one site, with an audit record of what they posted.

The verbs are idempotent (a fee_charges row per shop and month, an allocation_runs row per group and period,
and the ledger's keys), so a run started twice posts once; the second one's record says it posted nothing.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Site
from portal.monthly.allocation import Outcome, allocate
from portal.monthly.fees import FeeRun, run_fees


def run_site_fees(session: Session, site: Site, month: str, actor: str) -> FeeRun:
    """Charge the site's shops their property fee for the month (what is not charged yet); only flushes."""
    (result,) = run_fees(session, month, site_ids={site.id}, actor=actor)
    audit(session, actor, "fees.run", "site", site.id, site.id, month=month, shops=result.charged,
          fee_fen=result.fee_fen, posted_fen=result.posted_fen, arrears_fen=result.arrears_fen,
          switched=result.switched)
    return result


def allocate_site(session: Session, site: Site, period: str, actor: str) -> list[Outcome]:
    """Allocate the site's groups for a finished period (those not allocated yet); only flushes."""
    outcomes = allocate(session, period, site_ids={site.id}, actor=actor)
    posted = [o for o in outcomes if o.status == "posted"]
    audit(session, actor, "allocation.run", "site", site.id, site.id, period=period,
          groups={o.group_code: o.status for o in outcomes}, shops=sum(o.members for o in posted),
          total_fen=sum(o.total_fen for o in posted))
    return outcomes
