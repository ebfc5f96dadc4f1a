"""Reading back what the engine told: the deliveries of an event, and a site's staff who take every event."""
from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Account, Delivery, NotifyRecipient, Site

#: the phone on a shop's file in these tests, and a staff recipient's
SHOP_PHONE = "13900000001"
STAFF_PHONE = "13800000001"


def told(event: str, account: Account | None = None) -> list[Delivery]:
    """The deliveries queued for an event (about one shop), oldest first, read afresh."""
    db.session.expire_all()
    query = select(Delivery).where(Delivery.event == event).order_by(Delivery.id)
    if account is not None:
        query = query.where(Delivery.account_id == account.id)
    return list(db.session.scalars(query))


def events() -> list[str]:
    """Every delivery's event, oldest first."""
    return list(db.session.scalars(select(Delivery.event).order_by(Delivery.id)))


def with_phone(account: Account, phone: str = SHOP_PHONE) -> Account:
    """The shop with a phone on file (committed): a shop without one is told nothing by SMS."""
    account.phone = phone
    db.session.commit()
    return account


def on_duty(site: Site | int, phone: str = STAFF_PHONE) -> NotifyRecipient:
    """A staff recipient of the site who takes every event, always on duty (committed)."""
    recipient = NotifyRecipient(site_id=getattr(site, "id", site), name="值班电工", phone=phone, events=[])
    db.session.add(recipient)
    db.session.commit()
    return recipient
