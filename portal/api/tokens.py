"""The API's side of tokens: the staff user a bearer token acts as (they are made and revoked in
portal.staffing.tokens)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import ApiToken, StaffUser, utcnow
from portal.staffing.tokens import PREFIX, digest, token_state

#: how stale `last_used_at` may get: it is written at most once per this interval per token
LAST_USED_EVERY = timedelta(minutes=1)


def user_for_token(token: str) -> StaffUser | None:
    """The active staff user behind a token, or None."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == digest(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    now = utcnow()
    if row is None or token_state(row, now) != "active":
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        # a busy integration calls many times a minute: one write per token and minute is enough
        db.session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        db.session.commit()
    return row.user
