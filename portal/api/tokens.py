"""API tokens: random, shown once, stored as SHA-256 (they are high-entropy, so a fast hash is right)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import ApiToken, StaffUser, utcnow

PREFIX = "pf_"
#: how stale `last_used_at` may get: it is written at most once per this interval per token
LAST_USED_EVERY = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: StaffUser) -> str:
    """Create a token for `user` and return it in clear (the only time it exists in clear)."""
    token = PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=_digest(token), prefix=token[:10]))
    return token


def user_for_token(token: str) -> StaffUser | None:
    """The active staff user behind a token, or None."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        # a busy integration calls many times a minute: one write per token and minute is enough
        db.session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        db.session.commit()
    return row.user
