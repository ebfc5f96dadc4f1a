"""The job decorator: every job runs in an app context, in one transaction, committed on success."""
from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, has_app_context

from portal import create_app
from portal.extensions import db
from portal.queue.names import QUEUES

_app: Flask | None = None


def job(queue: str, timeout: int = 300):
    """Declare a job on `queue`: runs in an app context, one transaction, committed on success."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args, **kwargs):
            if has_app_context():
                return _in_transaction(func, args, kwargs)
            with _worker_app().app_context():
                return _in_transaction(func, args, kwargs)

        run.queue = queue
        run.timeout = timeout
        run.job_name = f"{func.__module__}.{func.__qualname__}"
        return run

    return decorate


def _in_transaction(func, args, kwargs):
    try:
        result = func(*args, **kwargs)
        db.session.commit()
        return result
    except BaseException:
        db.session.rollback()
        raise


def _worker_app() -> Flask:
    """The app of a worker process that imported a job without the Flask CLI."""
    global _app
    if _app is None:
        _app = create_app()
    return _app
