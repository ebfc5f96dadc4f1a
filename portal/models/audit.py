"""Audit log and outbox: who did what, and side effects that run after commit."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import BIGINT_PK, Base, utcnow


class AuditEntry(Base):
    """One recorded action by a person or a job."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_target", "target_type", "target_id"),
        # the audit page (portal.staff.audit): newest first, by site, by who, by what
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_site_at", "site_id", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(BIGINT_PK, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int | None] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    detail: Mapped[dict | None] = mapped_column(JSON)
    #: the client address of the request that did it (None: a job, the command line)
    ip: Mapped[str | None] = mapped_column(String(45))


class OutboxMessage(Base):
    """A job to enqueue once the transaction that wrote it has committed (survives Redis outages)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BIGINT_PK, primary_key=True)
    queue: Mapped[str] = mapped_column(String(16))
    #: dotted path of a registered job function
    job: Mapped[str] = mapped_column(String(120))
    args: Mapped[list] = mapped_column(JSON, default=list)
    #: jobs with the same dedupe key are enqueued once while one is pending (e.g. poll gateway 7)
    dedupe_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")
