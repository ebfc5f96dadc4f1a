"""The site import's commit job (the import page): one workbook, all or nothing, its progress reported as it goes."""
from __future__ import annotations

import functools
import logging

from portal.extensions import db
from portal.sites import uploads
from portal.sites.sheets import CellError, ImportFailed
from worker.jobs.base import job

log = logging.getLogger(__name__)


@job("reports", timeout=1800)
def commit_site_import(import_id: int) -> str:
    """Import a queued workbook in one transaction; DONE with its report, or FAILED with nothing written.

    Returns the outcome ("done", "failed", or "skipped" when another run of this job has the import already).
    """
    if not uploads.begin_run(db.session, import_id):
        db.session.rollback()
        return "skipped"
    db.session.commit()  # RUNNING shows at once; the import's own transaction starts now
    progress = functools.partial(uploads.record_progress, db.engine, import_id)
    try:
        uploads.run_import(db.session, import_id, progress=progress)
        db.session.commit()  # deferred constraints are checked here: a failure here is a FAILED import too
    except ImportFailed as failed:
        # the site changed since the preview (someone imported meanwhile): nothing is written, the page says why
        db.session.rollback()
        uploads.mark_failed(db.session, import_id, failed.errors)
        db.session.commit()
        return "failed"
    except Exception as exc:
        db.session.rollback()
        log.exception("site import %s failed", import_id)
        uploads.mark_failed(db.session, import_id, [CellError("", None, None, f"{type(exc).__name__}: {exc}"[:500])])
        db.session.commit()
        raise
    return "done"
