"""Work that waits for a second person (maker-checker), told to the site's staff who take `approval_waiting`.

Proposals (portal.approvals) and refund requests (portal.payments.refunds, and those the platform proposes itself
for money it may not keep: portal.payments.held) are told once each, when they are made.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Site
from portal.notify.params import asking, by
from portal.notify.route import tell_staff


def tell_waiting(session: Session, site_id: int, asks: str, crossing: str, *, shop: str, amount_fen: int | None,
                 actor: str, account_id: int | None = None) -> int:
    """Tell the site's staff that `asks` (a proposal's kind, or refund) for a shop waits; deliveries queued."""
    site = session.scalar(select(Site.code).where(Site.id == site_id)) or ""
    return tell_staff(session, site_id, "approval_waiting", crossing,
                      {"site": site, "what": asking(asks, shop, amount_fen), "by": by(actor)}, account_id=account_id)
