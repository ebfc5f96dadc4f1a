"""The audit log: one call records who did what to which row."""
from __future__ import annotations

from sqlalchemy.orm import Session

from portal.models import AuditEntry


def audit(session: Session, actor: str, action: str, target_type: str, target_id: int | None,
          site_id: int | None = None, **detail) -> AuditEntry:
    """Record an action in the caller's transaction."""
    entry = AuditEntry(actor=actor, action=action, target_type=target_type, target_id=target_id,
                       site_id=site_id, detail=detail or None)
    session.add(entry)
    return entry
