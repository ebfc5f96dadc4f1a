"""Logs of every process (web, worker, cron) as plain text or JSON lines, each record naming its request and job.

A web request carries an id (`X-Request-ID` when the caller or the proxy sent a sane one, else a new one),
kept in `flask.g` and returned in the response's `X-Request-ID`. A job the request asks for carries the same
id in its RQ meta (portal.queue), so a worker's records of that job name both the job and the request that
queued it: one `grep` follows a payment from the page to the credit. The ids are read when a record is made
(`ContextFilter`): from the job a worker (worker/cli.py) or the demo's in-process runner is executing, else
from the request in context, else from RQ's current job (a plain RQ worker).

LOG_FORMAT=json writes one JSON object a line (time, level, logger, message, request_id, job_id, and exc_info
as text) for a log shipper; plain (the default) writes a line for people. The standard library is enough for
both: a JSON line is one `json.dumps` of a dict, no extra package.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request
from rq import get_current_job

from portal.settings import LogSettings

#: the job a worker is executing (RQ's own records of it too: its start, its end, its traceback), or the job the
#: demo's in-process runner is running, and the request that queued it
carried_request_id: ContextVar[str | None] = ContextVar("carried_request_id", default=None)
carried_job_id: ContextVar[str | None] = ContextVar("carried_job_id", default=None)

#: an incoming X-Request-ID is kept only when it is a short token (it is written into every log line)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
PLAIN = "%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s"


def request_id() -> str | None:
    """The id of the web request in context, or of the request that queued the job being performed."""
    if carried_job_id.get() is not None:  # first: an inline job has an app context (and `g`) of its own
        return carried_request_id.get()
    if has_request_context():
        return g.get("request_id")
    job = get_current_job()
    return job.meta.get("request_id") if job is not None else None


def job_id() -> str | None:
    """The id of the RQ job being performed (or the in-process job's name), None outside a job."""
    if carried_job_id.get() is not None:
        return carried_job_id.get()
    job = get_current_job()
    return job.id if job is not None else None


@contextmanager
def job_context(job: str | None, request: str | None) -> Iterator[None]:
    """Records made inside name this job and the request that queued it."""
    tokens = carried_job_id.set(job), carried_request_id.set(request)
    try:
        yield
    finally:
        carried_job_id.reset(tokens[0])
        carried_request_id.reset(tokens[1])


class ContextFilter(logging.Filter):
    """Stamps every record with `request_id` and `job_id` (None when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id()
        record.job_id = job_id()
        ids = " ".join(f"{k}={v}" for k, v in (("request", record.request_id), ("job", record.job_id)) if v)
        record.ids = f" [{ids}]" if ids else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, job_id, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "job_id": getattr(record, "job_id", None),
        }
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record is emitted (a test's capture, a daemon's redirect)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def formatter(settings: LogSettings) -> logging.Formatter:
    """The formatter LOG_FORMAT names."""
    return JsonFormatter() if settings.format == "json" else logging.Formatter(PLAIN)


def handler(settings: LogSettings, stream=None) -> logging.Handler:
    """A handler with the ids filter and the formatter of the settings (on stderr unless `stream` is given)."""
    made = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    made.addFilter(ContextFilter())
    made.setFormatter(formatter(settings))
    return made


def configure(settings: LogSettings) -> None:
    """Send the process's records (the root logger's) to stderr as LOG_FORMAT says, once per process.

    A root already given a handler with our filter (gunicorn's `logconfig_dict`, an earlier app of the same
    process) is left alone, so records are never written twice.
    """
    root = logging.getLogger()
    if any(isinstance(f, ContextFilter) for h in root.handlers for f in h.filters):
        return
    root.addHandler(handler(settings))
    root.setLevel(settings.level)


def gunicorn_logconfig(settings: LogSettings) -> dict:
    """gunicorn's `logconfig_dict`: its own records (start-up, workers, access lines) and the app's in one format."""
    style = {"()": "portal.logs.JsonFormatter"} if settings.format == "json" else {"format": PLAIN}
    console = {"class": "portal.logs.StderrHandler", "formatter": "payfirst", "filters": ["ids"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"ids": {"()": "portal.logs.ContextFilter"}},
        "formatters": {"payfirst": style},
        "handlers": {"console": console},
        "root": {"level": settings.level, "handlers": ["console"]},
        "loggers": {name: {"level": "INFO", "handlers": ["console"], "propagate": False}
                    for name in ("gunicorn.error", "gunicorn.access")},
    }


def take_request_id() -> None:
    """Before a request: its id, from a sane X-Request-ID (nginx's $request_id) or a new one."""
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def give_request_id(response: Response) -> Response:
    """After a request: the caller learns the id its request is logged under."""
    if g.get("request_id"):
        response.headers["X-Request-ID"] = g.request_id
    return response


def init_app(app: Flask) -> None:
    """Configure the process's logging from the app's settings (not in tests: they capture logs themselves), and
    give every request its id, first of all hooks, so every record of the request carries it."""
    if not app.testing:
        configure(app.config["SETTINGS"].logs)
    app.before_request_funcs.setdefault(None, []).insert(0, take_request_id)
    app.after_request(give_request_id)
