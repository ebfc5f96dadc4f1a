"""Logs as JSON lines naming their request and job; a request's id travels into the jobs it queues."""
from __future__ import annotations

import io
import json
import logging
from datetime import date, timedelta

import pytest
from flask import request_finished
from rq import Queue, SimpleWorker
from rq.job import Job

from portal.extensions import db
from portal.logs import REQUEST_ID, handler, job_context, take_request_id
from portal.models import Role
from portal.queue.outbox import enqueue
from portal.settings import LogSettings
from tests.factories import PASSWORD
from worker.cli import Worker
from worker.jobs.base import job

JSON = LogSettings(format="json")
log = logging.getLogger("tests.logs")


@job("notify")
def say_hello_for_logs(word: str) -> None:
    """A job that logs one line from inside."""
    log.warning("hello %s", word)


@pytest.fixture
def captured():
    """Every record of the process as JSON lines, in a buffer: captured() -> the lines parsed."""
    buffer = io.StringIO()
    made = handler(JSON, buffer)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(made)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.removeHandler(made)
    root.setLevel(old_level)


@pytest.fixture
def logs_in_request(app):
    """A line logged at the end of each request of the app (inside it, as a view's would be)."""
    def said(sender, response, **_extra):
        log.info("answered %s", response.status_code)

    request_finished.connect(said, app)
    yield
    request_finished.disconnect(said, app)


def test_a_json_line_has_the_fields_and_the_request_id(client, captured, logs_in_request):
    res = client.get("/healthz", headers={"X-Request-ID": "nginx-4f2a.91"})
    assert res.headers["X-Request-ID"] == "nginx-4f2a.91"
    [line] = [entry for entry in captured() if entry["logger"] == "tests.logs"]
    assert line["message"] == "answered 200" and line["level"] == "INFO"
    assert line["request_id"] == "nginx-4f2a.91" and line["job_id"] is None
    assert line["time"].endswith("+00:00")


@pytest.mark.parametrize("given", ["", "has space", "<script>", "x" * 65, "naïve", "a;b=c"])
def test_an_unusable_incoming_id_is_replaced(client, given):
    res = client.get("/healthz", headers={"X-Request-ID": given})
    made = res.headers["X-Request-ID"]
    assert made != given and REQUEST_ID.fullmatch(made) and len(made) == 32


def test_each_request_gets_its_own_id(client):
    first, second = (client.get("/healthz").headers["X-Request-ID"] for _ in range(2))
    assert first != second


@pytest.mark.no_db
def test_an_exception_is_written_as_text_in_its_line():
    buffer = io.StringIO()
    logger = logging.getLogger("tests.logs.exception")
    logger.addHandler(handler(JSON, buffer))
    logger.propagate = False
    try:
        with job_context("outbox-7", "req-1"):
            try:
                raise ValueError("meter 12 said nonsense")
            except ValueError:
                logger.exception("poll failed")
    finally:
        logger.handlers.clear()
        logger.propagate = True
    line = json.loads(buffer.getvalue())
    assert line["message"] == "poll failed" and (line["job_id"], line["request_id"]) == ("outbox-7", "req-1")
    assert "ValueError: meter 12 said nonsense" in line["exc_info"] and "Traceback" in line["exc_info"]


@pytest.mark.no_db
def test_plain_lines_name_the_ids_when_there_are_some():
    buffer = io.StringIO()
    logger = logging.getLogger("tests.logs.plain")
    logger.addHandler(handler(LogSettings(), buffer))
    logger.propagate = False
    try:
        logger.warning("outside")
        with job_context("outbox-9", "req-2"):
            logger.warning("inside")
    finally:
        logger.handlers.clear()
        logger.propagate = True
    outside, inside = buffer.getvalue().splitlines()
    assert outside.endswith("WARNING tests.logs.plain: outside")
    assert inside.endswith("WARNING tests.logs.plain [request=req-2 job=outbox-9]: inside")


def test_a_job_a_request_queued_logs_with_its_request_id_and_job_id(redis_app, captured):
    """The job carries the request's id in its RQ meta; RQ's plain SimpleWorker runs it and its line names both."""
    conn = redis_app.extensions["payfirst.dispatcher"].redis
    with redis_app.test_request_context("/staff/anything", headers={"X-Request-ID": "req-from-page"}):
        take_request_id()
        row = enqueue(db.session, say_hello_for_logs, "world")
        db.session.commit()
    queued = Job.fetch(f"outbox-{row}", connection=conn)
    assert queued.meta["request_id"] == "req-from-page"
    SimpleWorker([Queue("notify", connection=conn)], connection=conn).work(burst=True)
    [line] = [entry for entry in captured() if entry["logger"] == "tests.logs"]
    assert line["message"] == "hello world"
    assert (line["request_id"], line["job_id"]) == ("req-from-page", f"outbox-{row}")


def test_a_real_page_queues_a_job_that_the_worker_logs_under_the_pages_request_id(redis_app, captured, make_site,
                                                                                  make_staff):
    """Staff press "download the bills again": the request id of that POST is in every line the worker (the
    `flask worker` class) writes about the job it queued, RQ's own lines included."""
    conn = redis_app.extensions["payfirst.dispatcher"].redis
    site = make_site(code="mall")
    user = make_staff(role=Role.MANAGER, sites=[site])
    client = redis_app.test_client()
    client.post("/auth/staff/login", data={"username": user.username, "password": PASSWORD})
    day = (date.today() - timedelta(days=3)).isoformat()
    res = client.post("/staff/reports/reconciliation/download?site=mall", data={"day": day})
    assert res.status_code == 303
    request_id = res.headers["X-Request-ID"]
    [queued] = Queue("reports", connection=conn).get_jobs()
    assert queued.meta["request_id"] == request_id
    Worker([Queue("reports", connection=conn)], connection=conn).work(burst=True)
    about_job = [entry for entry in captured() if entry["job_id"] == queued.id]
    assert about_job, captured()
    assert {entry["request_id"] for entry in about_job} == {request_id}
    assert any(entry["logger"].startswith("rq.") for entry in about_job)


def test_the_demos_in_process_queue_carries_the_request_id_too(app, captured):
    """Without Redis the job runs in this process (here inline): its line names the request and the job."""
    with app.test_request_context("/staff/anything", headers={"X-Request-ID": "req-demo"}):
        take_request_id()
        enqueue(db.session, say_hello_for_logs, "demo")
        db.session.commit()
    [line] = [entry for entry in captured() if entry["logger"] == "tests.logs"]
    assert line["message"] == "hello demo"
    assert (line["request_id"], line["job_id"]) == ("req-demo", say_hello_for_logs.job_name)
