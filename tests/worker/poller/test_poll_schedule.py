"""The minute cron queues one poll job per gateway, never two for a gateway whose job still waits."""
from __future__ import annotations

import redis
from rq import Queue, SimpleWorker

from worker.jobs.polling import schedule_polls


def _queued(redis_url: str) -> list[int]:
    queue = Queue("polling", connection=redis.Redis.from_url(redis_url))
    return sorted(arg for job in queue.get_jobs() for arg in job.args)


def test_schedule_polls_queues_one_job_per_gateway_however_often_it_runs(redis_app, redis_url, make_site,
                                                                        make_gateway, refused_port):
    site = make_site()
    gateways = [make_gateway(site=site, port=refused_port) for _ in range(3)]

    assert schedule_polls() == 3
    assert schedule_polls() == 3

    assert _queued(redis_url) == sorted(g.id for g in gateways)


def test_a_gateway_is_queued_again_once_its_poll_job_has_run(redis_app, redis_url, make_site, make_gateway,
                                                            refused_port):
    site = make_site()
    gateway = make_gateway(site=site, port=refused_port)
    schedule_polls()
    conn = redis.Redis.from_url(redis_url)
    SimpleWorker([Queue("polling", connection=conn)], connection=conn).work(burst=True)
    assert _queued(redis_url) == []

    schedule_polls()

    assert _queued(redis_url) == [gateway.id]
