"""API tokens: random, shown once, stored as SHA-256 (they are high-entropy, so a fast hash is right)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import ApiToken, StaffUser, utcnow
from portal.settings import current

PREFIX = "pf_"
#: how stale `last_used_at` may get: it is written at most once per this interval per token
LAST_USED_EVERY = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: StaffUser, days: int | None = None) -> str:
    """Create a token for `user` valid `days` (API_TOKEN_DAYS by default, 0: no end) and return it in clear
    (the only time it exists in clear)."""
    token = PREFIX + secrets.token_urlsafe(32)
    days = current().auth.api_token_days if days is None else days
    expires = utcnow() + timedelta(days=days) if days else None
    db.session.add(ApiToken(user_id=user.id, token_hash=_digest(token), prefix=token[:10], expires_at=expires))
    return token


def find_token(s, key: str) -> ApiToken | None:
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


def user_for_token(token: str) -> StaffUser | None:
    """The active staff user behind a token, or None."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    now = utcnow()
    if row is None or not row.user.active or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        # a busy integration calls many times a minute: one write per token and minute is enough
        db.session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        db.session.commit()
    return row.user
