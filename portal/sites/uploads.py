"""A site workbook on its way through the import page: checked and previewed on upload, committed by a job.

On upload the file is kept in a SiteImport row and imported once for real by `import_site` (the CLI's code, the
same RowChecker) in a session of its own that is rolled back: a dry run, so the preview's counts and the changes
it lists are exactly what the same code would write, and nothing is written. The row is then INVALID (its errors
by sheet, row and column) or READY (its preview).

A commit moves READY to QUEUED in one guarded UPDATE (a second click, a second tab: nothing moves, nothing is
queued twice) and asks for the job through the outbox in the same transaction. The job moves QUEUED to RUNNING
(again guarded: a job delivered twice runs once), imports the file in one transaction, checking it again against
the site as it is by then (someone may have imported meanwhile), and reports its progress in done_rows from
another connection, committed as it goes while the import's own transaction stays open. It ends DONE with the
import's report, or FAILED with the errors and nothing written.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Site, SiteImport, utcnow
from portal.models.office import ImportStatus
from portal.queue.names import IMPORT_SITE
from portal.queue.outbox import enqueue
from portal.settings import ImportSettings, import_limits
from portal.sites.importer import import_site
from portal.sites.limits import check_size
from portal.sites.report import ImportReport
from portal.sites.sheets import CellError, ImportFailed

#: the file endings the reader takes (calamine tells the formats apart by them)
SUFFIXES = (".xlsx", ".xlsm", ".xls")


def errors_json(errors: list[CellError]) -> list[dict]:
    """Errors as the import page keeps them (SiteImport.errors)."""
    return [{"sheet": e.sheet, "row": e.row, "column": e.column, "message": e.message} for e in errors]


@contextmanager
def as_file(filename: str, content: bytes) -> Iterator[Path]:
    """The upload as a temporary file with its ending, for the reader; removed afterwards."""
    suffix = Path(filename).suffix.lower()
    fd, name = tempfile.mkstemp(prefix="payfirst-import-", suffix=suffix if suffix in SUFFIXES else ".xlsx")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        yield Path(name)
    finally:
        os.unlink(name)


def dry_run(session: Session, site_code: str, filename: str, content: bytes,
            limits: ImportSettings | None = None) -> ImportReport:
    """What importing the file would do, computed by importing it in a transaction of its own that is rolled back;
    ImportFailed as the import would raise it. Nothing is written."""
    with Session(session.get_bind()) as scratch, as_file(filename, content) as path:
        try:
            return import_site(scratch, path, site_code, limits=limits)
        finally:
            scratch.rollback()


def check_upload(session: Session, *, site_code: str, filename: str, stream: BinaryIO, actor: str,
                 user_id: int | None, limits: ImportSettings | None = None) -> SiteImport:
    """Keep an uploaded file with its check: INVALID with its errors, or READY with its preview (flushed, audited).

    A file over the size limit is refused like the CLI refuses it, before it is read into memory, and its bytes
    are not kept (only their SHA-256).
    """
    limits = limits or import_limits()
    name = Path(filename).name[:200] or "upload.xlsx"
    length = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    digest = hashlib.sha256()
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
    stream.seek(0)
    row = SiteImport(site_code=site_code, filename=name, content=b"", sha256=digest.hexdigest(),
                     created_by_id=user_id)
    try:
        check_size(name, length, limits)
        row.content = stream.read()
        report = dry_run(session, site_code, name, row.content, limits)
    except ImportFailed as failed:
        row.status, row.errors = ImportStatus.INVALID, errors_json(failed.errors)
    else:
        row.status, row.preview, row.total_rows = ImportStatus.READY, report.as_json(), report.total
    session.add(row)
    session.flush()
    audit(session, actor, "site_import.checked", "site_import", row.id, site_id=_site_id(session, site_code),
          site=site_code, file=row.filename, status=row.status.value, errors=len(row.errors or ()))
    return row


def start_commit(session: Session, row: SiteImport, actor: str) -> bool:
    """Queue the import of a READY file (the outbox hands the job over after the commit); False, and nothing
    queued, when it is not READY any more (already committed from another click or tab)."""
    moved = session.execute(update(SiteImport).where(SiteImport.id == row.id, SiteImport.status == ImportStatus.READY)
                            .values(status=ImportStatus.QUEUED, done_rows=0)).rowcount
    session.expire(row)
    if not moved:
        return False
    enqueue(session, IMPORT_SITE, row.id)
    audit(session, actor, "site_import.committed", "site_import", row.id, site_id=_site_id(session, row.site_code),
          site=row.site_code, file=row.filename)
    return True


def begin_run(session: Session, import_id: int) -> bool:
    """QUEUED -> RUNNING for the job; False when another run of the job has it (or it is not queued)."""
    moved = session.execute(update(SiteImport).where(SiteImport.id == import_id,
                                                     SiteImport.status == ImportStatus.QUEUED)
                            .values(status=ImportStatus.RUNNING, done_rows=0)).rowcount
    return bool(moved)


def run_import(session: Session, import_id: int, progress=None) -> ImportReport:
    """Import a RUNNING file into its site, checked again as the site is now; marks it DONE (flushed, not
    committed). Raises ImportFailed, writing nothing, when the file no longer fits the site."""
    row = session.get(SiteImport, import_id)
    # one import per site at a time: a second one waits here, then is checked against what the first wrote
    session.execute(select(Site.id).where(Site.code == row.site_code).with_for_update())
    with as_file(row.filename, row.content) as path:
        report = import_site(session, path, row.site_code, actor="system:import", progress=progress)
    preview = dict(row.preview or {})
    preview["done"] = report.as_json()
    row.preview, row.status, row.finished_at = preview, ImportStatus.DONE, utcnow()
    row.total_rows = row.done_rows = report.total
    audit(session, "system:import", "site_import.done", "site_import", row.id,
          site_id=_site_id(session, row.site_code), site=row.site_code, file=row.filename, counts=report.counts)
    session.flush()
    return report


def mark_failed(session: Session, import_id: int, errors: list[CellError]) -> None:
    """The job's failure, after its transaction was rolled back: FAILED with the errors (flushed)."""
    row = session.get(SiteImport, import_id)
    row.status, row.errors, row.finished_at, row.done_rows = ImportStatus.FAILED, errors_json(errors), utcnow(), 0
    audit(session, "system:import", "site_import.failed", "site_import", row.id,
          site_id=_site_id(session, row.site_code), site=row.site_code, file=row.filename, errors=len(errors))
    session.flush()


def record_progress(engine: Engine, import_id: int, done: int) -> None:
    """Rows written so far, committed at once on a connection of its own, while the import's transaction is open.

    Not on SQLite (the demo): there the open import holds the database's one write lock, so the bar jumps to the
    end when the import commits.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        table = SiteImport.__table__
        conn.execute(update(table).where(table.c.id == import_id).values(done_rows=done))


def _site_id(session: Session, code: str) -> int | None:
    return session.execute(select(Site.id).where(Site.code == code)).scalar_one_or_none()
