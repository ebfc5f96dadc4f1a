"""API tokens: random, shown once, stored as SHA-256 (they are high-entropy, so a fast hash is right).

A token acts as its staff user while it is neither revoked nor expired and the user is active; staff see it
by its id and prefix, and when it was created, last used and expires.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.extensions import db
from portal.models import ApiToken, StaffUser, utcnow
from portal.settings import current
from portal.staffing.users import StaffChangeRefused

PREFIX = "pf_"
#: the longest life a token may be given, in days (about ten years)
MAX_DAYS = 3650


def digest(token: str) -> str:
    """The SHA-256 a token is stored and looked up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: StaffUser, days: int | None = None) -> str:
    """Create a token for `user` valid `days` (API_TOKEN_DAYS by default, 0: no end) and return it in clear
    (the only time it exists in clear)."""
    token = PREFIX + secrets.token_urlsafe(32)
    days = current().auth.api_token_days if days is None else days
    expires = utcnow() + timedelta(days=days) if days else None
    db.session.add(ApiToken(user_id=user.id, token_hash=digest(token), prefix=token[:10], expires_at=expires))
    return token


def issue_token(session: Session, actor: str, user: StaffUser, days: int | None = None) -> tuple[ApiToken, str]:
    """An audited new token for an active user: the row and the token in clear (shown once, never again)."""
    if not user.active:
        raise StaffChangeRefused(_("%(user)s is switched off: switch them on before giving them a token.",
                                   user=user.username))
    if days is not None and not 0 <= days <= MAX_DAYS:
        raise StaffChangeRefused(_("A token lasts 0 (no end) to %(max)s days.", max=MAX_DAYS))
    token = create_token(user, days)
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == digest(token))).scalar_one()
    audit(session, actor, "api_token.created", "api_token", row.id, user=user.username, prefix=row.prefix,
          expires_at=row.expires_at.isoformat() if row.expires_at else None)
    return row, token


def find_token(s: Session, key: str) -> ApiToken | None:
    """A token by its id or the prefix staff see (`pf_AbCdEfG`)."""
    column = ApiToken.id if key.isdigit() else ApiToken.prefix
    rows = s.execute(select(ApiToken).where(column == (int(key) if key.isdigit() else key))).scalars().all()
    return rows[0] if len(rows) == 1 else None


def revoke(token: ApiToken) -> bool:
    """Switch a token off for good; False when it already was."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    return True


def revoke_token(session: Session, actor: str, token: ApiToken) -> bool:
    """Revoke a token and record who did; False (and nothing recorded) when it already was revoked."""
    if not revoke(token):
        return False
    audit(session, actor, "api_token.revoked", "api_token", token.id, user=token.user.username,
          prefix=token.prefix)
    return True


def token_state(token: ApiToken, now: datetime | None = None) -> str:
    """`revoked`, `expired`, `inactive_user` (its user is switched off) or `active`."""
    now = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active" if token.user.active else "inactive_user"
