"""Raise and clear alarms: once per crossing, enforced by a partial unique index.

Each alarm keeps an English sentence (`message`, for logs and the command line) and what it is about as data
(`data`: {"what": <message id>, ...values}), which the staff pages render in the reader's language
(portal.web.alarm_text). A message id names one sentence; its values are codes, integers (fen, watts) and
free text the platform or a device gave (an error), never a sentence of ours.

Raising and clearing return the alarms they opened or closed (`Row`s of `ALARM_COLUMNS`), so that the caller
can tell who is concerned in the same transaction (portal.notify.alarms): only an alarm opened now is a new
crossing, and only one closed now a recovery.
"""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from portal.bulk import among, chunks
from portal.models import Alarm, AlarmKind, utcnow
from portal.models.base import upsert_insert

_ALARMS = Alarm.__table__
#: what raising and clearing return of each alarm they opened or closed
ALARM_COLUMNS = tuple(_ALARMS.c[name] for name in (
    "id", "kind", "subject", "site_id", "account_id", "meter_id", "gateway_id", "data", "message", "raised_at",
    "cleared_at"))


def raise_alarm(session: Session, kind: AlarmKind, subject: str, site_id: int, message: str,
                data: dict | None = None, **refs) -> Row | None:
    """Open an alarm unless one is already open for (kind, subject); the alarm when this call opened it."""
    # Core, not the ORM: an ORM insert sets up its RETURNING entities again on every call (a fee run raises
    # thousands, one by one)
    stmt = upsert_insert(session, _ALARMS).values(
        kind=kind, subject=subject, site_id=site_id, message=message[:300], data=data, raised_at=utcnow(), **refs
    ).on_conflict_do_nothing(index_elements=["kind", "subject"], index_where=_ALARMS.c.cleared_at.is_(None))
    return session.execute(stmt.returning(*ALARM_COLUMNS)).one_or_none()


def raise_many(session: Session, rows: list[dict]) -> Sequence[Row]:
    """Open many alarms at once (a poll cycle); already-open ones are left as they are. The alarms opened now."""
    if not rows:
        return []
    now = utcnow()
    stmt = upsert_insert(session, _ALARMS).on_conflict_do_nothing(
        index_elements=["kind", "subject"], index_where=_ALARMS.c.cleared_at.is_(None))
    refs = {"data": None, "account_id": None, "meter_id": None, "gateway_id": None}
    return session.execute(stmt.returning(*ALARM_COLUMNS),
                           [{**refs, **r, "raised_at": now, "message": r["message"][:300]} for r in rows]).all()


def clear_alarm(session: Session, kind: AlarmKind, subjects: str | list[str]) -> int:
    """Close the open alarm(s) of this kind for the subject(s); returns how many closed."""
    return len(clear_many(session, kind, subjects))


def clear_many(session: Session, kind: AlarmKind, subjects: str | list[str]) -> Sequence[Row]:
    """Close the open alarm(s) of this kind for the subject(s); the alarms closed now."""
    subjects = [subjects] if isinstance(subjects, str) else subjects
    if not subjects:
        return []
    # "fetch" keeps loaded alarms in step from the RETURNING rows; the default ("evaluate") scans the whole
    # identity map per call, quadratic in a poll cycle holding 10,000 meters
    return session.execute(
        update(Alarm).where(Alarm.kind == kind, Alarm.subject.in_(subjects), Alarm.cleared_at.is_(None))
        .values(cleared_at=utcnow()).returning(*ALARM_COLUMNS).execution_options(synchronize_session="fetch")
    ).all()


def open_subjects(session: Session, kind: AlarmKind, subjects: list[str]) -> set[str]:
    """Which of these subjects have an open alarm of this kind (one array parameter per 20,000 subjects)."""
    found: set[str] = set()
    for part in chunks(subjects):
        found.update(session.execute(select(Alarm.subject).where(
            Alarm.kind == kind, Alarm.cleared_at.is_(None), among(session, Alarm.subject, part))).scalars())
    return found


class AlreadyAcknowledged(Exception):
    """The alarm was acknowledged before (by whom it names)."""


def acknowledge(alarm: Alarm, actor: str, note: str) -> None:
    """Someone has seen the alarm and says what they do about it; an alarm is acknowledged once."""
    if alarm.acknowledged_by is not None:
        raise AlreadyAcknowledged(alarm.acknowledged_by)
    alarm.acknowledged_by, alarm.acknowledged_at, alarm.ack_note = actor, utcnow(), note.strip()[:200] or None
