"""Raise and clear alarms: once per crossing, enforced by a partial unique index.

Each alarm keeps an English sentence (`message`, for logs and the command line) and what it is about as data
(`data`: {"what": <message id>, ...values}), which the staff pages render in the reader's language
(portal.web.alarm_text). A message id names one sentence; its values are codes, integers (fen, watts) and
free text the platform or a device gave (an error), never a sentence of ours.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.bulk import among, chunks
from portal.models import Alarm, AlarmKind, utcnow
from portal.models.base import upsert_insert


def raise_alarm(session: Session, kind: AlarmKind, subject: str, site_id: int, message: str,
                data: dict | None = None, **refs) -> bool:
    """Open an alarm unless one is already open for (kind, subject); True when this call opened it."""
    stmt = upsert_insert(session, Alarm).values(
        kind=kind, subject=subject, site_id=site_id, message=message[:300], data=data, raised_at=utcnow(), **refs
    ).on_conflict_do_nothing(index_elements=["kind", "subject"], index_where=Alarm.cleared_at.is_(None))
    return session.execute(stmt.returning(Alarm.id)).scalar_one_or_none() is not None


def raise_many(session: Session, rows: list[dict]) -> None:
    """Open many alarms at once (a poll cycle); already-open ones are left as they are."""
    if rows:
        now = utcnow()
        stmt = upsert_insert(session, Alarm).on_conflict_do_nothing(
            index_elements=["kind", "subject"], index_where=Alarm.cleared_at.is_(None))
        refs = {"data": None, "account_id": None, "meter_id": None, "gateway_id": None}
        session.execute(stmt, [{**refs, **r, "raised_at": now, "message": r["message"][:300]} for r in rows])


def clear_alarm(session: Session, kind: AlarmKind, subjects: str | list[str]) -> int:
    """Close the open alarm(s) of this kind for the subject(s); returns how many closed."""
    subjects = [subjects] if isinstance(subjects, str) else subjects
    if not subjects:
        return 0
    # "fetch" (RETURNING the ids) keeps loaded alarms in step at the cost of the rows matched; the default
    # ("evaluate") scans the whole identity map per call, quadratic in a poll cycle holding 10,000 meters
    result = session.execute(
        update(Alarm).where(Alarm.kind == kind, Alarm.subject.in_(subjects), Alarm.cleared_at.is_(None))
        .values(cleared_at=utcnow()).execution_options(synchronize_session="fetch")
    )
    return result.rowcount


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
