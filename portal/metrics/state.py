"""What the database and Redis hold, read when Prometheus scrapes: queues, gateways, meters, messages, notifies.

Nothing here is counted as it happens: the worker, the cron and every web process already write it down (RQ's
keys, the poller's `last_seen_at` and `online`, the delivery and notify rows), so one scrape reads it with a
few set-wise queries, whichever process answers: four grouped SELECTs (gateways, meters, deliveries,
notifies), with Redis one more (which site each gateway is on: a few hundred rows), one pipeline and one
HGETALL. A site of 10,030 meters is one aggregate over its meter_states rows: a scrape of the 10,030-meter
farm with 200,000 deliveries and 50,000 notifies took about 70 ms (PostgreSQL, this 2-core machine).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from portal.metrics.polls import poll_seconds
from portal.models import Delivery, Gateway, Meter, MeterState, PaymentNotification, Site
from portal.queue.names import QUEUES

log = logging.getLogger(__name__)

#: a gateway not heard from for longer than this has missed its minute (the cron polls each one a minute)
STALE_SECONDS = 60


class StateCollector:
    """A prometheus_client collector over one database session and the app's Redis (None: the demo's queue)."""

    def __init__(self, session: Session, conn: redis.Redis | None, now: datetime):
        self.session, self.conn, self.now = session, conn, now

    def collect(self) -> Iterator[Metric]:
        yield from self.gateways()
        yield from self.meters()
        yield from self.deliveries()
        yield from self.notifies()
        if self.conn is not None:
            yield from self.redis_figures()

    def gateways(self) -> Iterator[Metric]:
        """Per site: gateways, those offline, the age of the least recently seen, how many are older than 60 s."""
        total = GaugeMetricFamily("payfirst_gateways", "Gateways of the site", labels=["site"])
        offline = GaugeMetricFamily("payfirst_gateways_offline", "Gateways the last poll did not reach",
                                    labels=["site"])
        worst = GaugeMetricFamily("payfirst_gateway_last_seen_age_seconds_max",
                                  "Seconds since the least recently seen gateway of the site answered a poll "
                                  "(gateways never seen are counted in payfirst_gateways_stale only)", labels=["site"])
        stale = GaugeMetricFamily("payfirst_gateways_stale",
                                  f"Gateways not seen for more than {STALE_SECONDS} s, or never", labels=["site"])
        cutoff = self.now - timedelta(seconds=STALE_SECONDS)
        late = Gateway.last_seen_at.is_(None) | (Gateway.last_seen_at < cutoff)
        rows = self.session.execute(
            select(Site.code, func.count(), func.sum(case((Gateway.online.is_(False), 1), else_=0)),
                   func.sum(case((late, 1), else_=0)), func.min(Gateway.last_seen_at)).select_from(Gateway)
            .join(Site, Site.id == Gateway.site_id).group_by(Site.code).order_by(Site.code)).all()
        for code, count, down, behind, oldest in rows:
            total.add_metric([code], count)
            offline.add_metric([code], down or 0)
            stale.add_metric([code], behind or 0)
            if oldest is not None:
                worst.add_metric([code], max(0.0, (self.now - oldest).total_seconds()))
        yield from (total, offline, worst, stale)

    def meters(self) -> Iterator[Metric]:
        """Per site: meters, and those offline (not answering, or never read)."""
        total = GaugeMetricFamily("payfirst_meters", "Meters of the site", labels=["site"])
        offline = GaugeMetricFamily("payfirst_meters_offline", "Meters not answering their polls, or never read",
                                    labels=["site"])
        down = case((func.coalesce(MeterState.online, False).is_(False), 1), else_=0)
        rows = self.session.execute(
            select(Site.code, func.count(), func.sum(down)).select_from(Meter)
            .join(Site, Site.id == Meter.site_id).outerjoin(MeterState, MeterState.meter_id == Meter.id)
            .group_by(Site.code).order_by(Site.code)).all()
        for code, count, off in rows:
            total.add_metric([code], count)
            offline.add_metric([code], off or 0)
        yield from (total, offline)

    def deliveries(self) -> Iterator[Metric]:
        """Messages to tenants and staff by status (pending, sending, sent, failed, uncertain) and channel."""
        family = GaugeMetricFamily("payfirst_notification_deliveries", "Notification deliveries by status and the "
                                   "channel of their current or last attempt", labels=["status", "channel"])
        for status, channel, count in self.session.execute(
                select(Delivery.status, Delivery.channel, func.count()).group_by(Delivery.status, Delivery.channel)
                .order_by(Delivery.status, Delivery.channel)):
            family.add_metric([_value(status), channel], count)
        yield family

    def notifies(self) -> Iterator[Metric]:
        """Payment notifies received, by platform and outcome (accepted, duplicate, ignored, anomaly, rejected)."""
        family = GaugeMetricFamily("payfirst_payment_notifies", "Payment notifies received, by source and outcome",
                                   labels=["source", "outcome"])
        for source, outcome, count in self.session.execute(
                select(PaymentNotification.source, PaymentNotification.outcome, func.count())
                .group_by(PaymentNotification.source, PaymentNotification.outcome)
                .order_by(PaymentNotification.source, PaymentNotification.outcome)):
            family.add_metric([source, _value(outcome)], count)
        yield family

    def redis_figures(self) -> Iterator[Metric]:
        """RQ's queues (waiting, running, failed) and the poll jobs' durations, in one round trip and an HGETALL."""
        up = GaugeMetricFamily("payfirst_redis_up", "Whether Redis answered this scrape")
        try:
            counts = self._queue_counts()
            durations = poll_seconds(self.conn)
        except redis.RedisError as exc:
            log.warning("metrics: Redis did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, (help_text, index) in {
            "payfirst_rq_queued_jobs": ("Jobs waiting in the RQ queue", 0),
            "payfirst_rq_started_jobs": ("Jobs a worker is running now", 1),
            "payfirst_rq_failed_jobs": ("Jobs in the queue's failed-job registry", 2),
        }.items():
            family = GaugeMetricFamily(name, help_text, labels=["queue"])
            for queue in QUEUES:
                family.add_metric([queue], counts[queue][index])
            yield family
        sites = dict(self.session.execute(select(Gateway.id, Site.code).join(Site, Site.id == Gateway.site_id)).all())
        yield _poll_cycle(durations, sites)

    def _queue_counts(self) -> dict[str, tuple[int, int, int]]:
        pipe = self.conn.pipeline(transaction=False)
        for name in QUEUES:
            queue = Queue(name, connection=self.conn)
            pipe.llen(queue.key)
            pipe.zcard(StartedJobRegistry(queue=queue).key)
            pipe.zcard(FailedJobRegistry(queue=queue).key)
        values = pipe.execute()
        return {name: tuple(values[3 * i:3 * i + 3]) for i, name in enumerate(QUEUES)}


def _poll_cycle(durations: dict[int, float], sites: dict[int, str]) -> Metric:
    """The slowest last cycle of each site's gateways (gateways since deleted are left out)."""
    worst: dict[str, float] = defaultdict(float)
    for gateway_id, seconds in durations.items():
        if gateway_id in sites:
            worst[sites[gateway_id]] = max(worst[sites[gateway_id]], seconds)
    family = GaugeMetricFamily("payfirst_poll_cycle_seconds_max",
                               "Seconds the slowest of the site's gateways took for its last poll job",
                               labels=["site"])
    for code in sorted(worst):
        family.add_metric([code], worst[code])
    return family


def _value(member) -> str:
    return getattr(member, "value", member)
