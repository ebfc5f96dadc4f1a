"""Sign-in codes forgotten (the hourly housekeeping job): a code's row kept a day for the limits that count the
last hour's codes, then deleted; the code itself blotted out of its message once the message is sent (it lived
there for the sender only). Kept apart from portal.auth, whose package loads the sign-in pages: the worker has
no pages."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from portal.models import Delivery, DeliveryStatus, LoginCode, utcnow
from portal.notify.deliveries import BLOT
from portal.notify.events import EVENTS

#: how long a sign-in code may be typed (portal.auth.login_codes issues them)
CODE_TTL = timedelta(minutes=5)


#: how long a spent or expired code's row is kept (the limits count the last hour's codes)
KEEP_CODES = timedelta(days=1)


def forget_old_codes(session: Session, now: datetime | None = None) -> tuple[int, int]:
    """Delete the codes past KEEP_CODES, and blot the code out of sign-in messages no longer waiting to be sent
    (the code lived in them for the sender only). Returns (codes deleted, messages blotted)."""
    now = now or utcnow()
    codes = session.execute(delete(LoginCode).where(LoginCode.expires_at < now - KEEP_CODES)).rowcount
    waiting = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    blotted = session.execute(
        update(Delivery).where(Delivery.event == "login_code", Delivery.status.notin_(waiting),
                               Delivery.created_at < now - CODE_TTL, Delivery.text.not_like(f"%{BLOT}%"))
        .values(params={"code": BLOT}, text=EVENTS["login_code"].text({"code": BLOT}))
        .execution_options(synchronize_session=False)).rowcount
    return codes, blotted
