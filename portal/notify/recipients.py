"""A site's staff recipients (`NotifyRecipient`): who of its staff is told of its alarms, on which addresses,
of which events and when on duty; kept by the site's managers, every change audited.

A recipient has a mainland mobile number (kept as its 11 digits) and may have a WeChat openid (the official
account's, then WeChat is tried first); takes every staff event or the ones listed; and is on duty always or
between two local times (over midnight when the start is later than the end). A recipient is switched off,
never deleted: the delivery log keeps pointing at it.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import time

from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Audience, NotifyRecipient
from portal.notify.events import EVENTS

#: a mainland mobile number, once spaces, dashes and a +86 / 0086 prefix are taken off
PHONE = re.compile(r"1[3-9][0-9]{9}")
_PHONE_PREFIX = re.compile(r"^(\+86|0086)")
#: an openid of an official account: 28 characters of these as WeChat issues them; a little room either way
OPENID = re.compile(r"[A-Za-z0-9_-]{16,64}")

#: the events a staff recipient can take, in EVENTS' order
STAFF_EVENTS: tuple[str, ...] = tuple(e.name for e in EVENTS.values() if e.audience is Audience.STAFF)


class RecipientRefused(ValueError):
    """A recipient that cannot be kept as asked; the message says why, for people."""


@dataclass(frozen=True)
class RecipientFields:
    """What a manager gives of a recipient (already checked for shape: `normal_phone`, OPENID, STAFF_EVENTS)."""

    name: str
    phone: str
    wechat_openid: str | None
    #: empty: every staff event
    events: tuple[str, ...]
    #: both None: always on duty
    duty_start: time | None
    duty_end: time | None


def normal_phone(text: str) -> str | None:
    """A mainland mobile number as its 11 digits, or None when it is not one."""
    digits = _PHONE_PREFIX.sub("", re.sub(r"[\s\-()]", "", text or ""))
    return digits if PHONE.fullmatch(digits) else None


def _values(fields: RecipientFields) -> dict:
    return {**asdict(fields), "events": list(fields.events)}


def _check(session: Session, site_id: int, fields: RecipientFields, recipient_id: int | None) -> None:
    same = select(NotifyRecipient.name).where(NotifyRecipient.site_id == site_id, NotifyRecipient.active.is_(True),
                                               NotifyRecipient.phone == fields.phone)
    if recipient_id is not None:
        same = same.where(NotifyRecipient.id != recipient_id)
    other = session.scalar(same.limit(1))
    if other is not None:
        raise RecipientRefused(_("%(phone)s is already the number of %(name)s at this site.", phone=fields.phone,
                                 name=other))
    unknown = set(fields.events) - set(STAFF_EVENTS)
    if unknown:
        raise RecipientRefused(_("Not events of the staff: %(names)s.", names=", ".join(sorted(unknown))))


def _shown(value):
    return value.isoformat(timespec="minutes") if isinstance(value, time) else value


def add_recipient(session: Session, site_id: int, fields: RecipientFields, actor: str) -> NotifyRecipient:
    """A new recipient of the site, active at once (RecipientRefused: the number is another's here)."""
    _check(session, site_id, fields, None)
    recipient = NotifyRecipient(site_id=site_id, active=True, **_values(fields))
    session.add(recipient)
    session.flush()
    audit(session, actor, "notify_recipient.created", "notify_recipient", recipient.id, site_id,
          **{k: _shown(v) for k, v in _values(fields).items()})
    return recipient


def change_recipient(session: Session, recipient: NotifyRecipient, fields: RecipientFields, actor: str) -> bool:
    """Save what changed of a recipient; whether anything did (RecipientRefused: the number is another's here)."""
    _check(session, recipient.site_id, fields, recipient.id)
    changed = {}
    for name, value in _values(fields).items():
        before = getattr(recipient, name)
        if before != value:
            changed[name] = [_shown(before), _shown(value)]
            setattr(recipient, name, value)
    if changed:
        audit(session, actor, "notify_recipient.changed", "notify_recipient", recipient.id, recipient.site_id,
              name=recipient.name, changed=changed)
    return bool(changed)


def set_recipient_active(session: Session, recipient: NotifyRecipient, active: bool, actor: str) -> bool:
    """Switch a recipient off (told of nothing from now on) or on again; whether it changed."""
    if recipient.active == active:
        return False
    if active:
        _check(session, recipient.site_id, RecipientFields(recipient.name, recipient.phone, recipient.wechat_openid,
                                                           (), None, None), recipient.id)
    recipient.active = active
    audit(session, actor, "notify_recipient.activated" if active else "notify_recipient.deactivated",
          "notify_recipient", recipient.id, recipient.site_id, name=recipient.name)
    return True
