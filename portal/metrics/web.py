"""`/metrics` for Prometheus, and the web requests it counts.

Requests are counted by their Flask URL rule (`/staff/accounts/<int:account_id>`, never the path itself: one
series per route, however many accounts), method and status. Under gunicorn with several workers each process
counts its own; with PROMETHEUS_MULTIPROC_DIR set (portal/gunicorn_conf.py) prometheus_client writes every
process's counts to files there and a scrape, whichever worker answers it, adds them up. Without it (the demo,
one process) they are in memory.

Access: METRICS_TOKEN (a bearer token) or METRICS_ALLOW (client addresses or networks, as the app sees the
client: after TRUSTED_PROXY_HOPS); either one lets a scraper in. With neither set the route is not there (404).
It is never behind a staff login (a scraper has none), takes no form (no CSRF) and has no rate limit.
"""
from __future__ import annotations

import hmac
import ipaddress
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from portal.extensions import db, limiter
from portal.metrics.state import StateCollector
from portal.models import utcnow
from portal.queue.dispatch import redis_connection
from portal.settings import MetricsSettings, current

bp = Blueprint("metrics", __name__)

#: this process's request figures (with PROMETHEUS_MULTIPROC_DIR their values live in files, not here)
WEB = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("payfirst_http_requests", "Web requests answered, by route (URL rule), method and status",
                   ["route", "method", "status"], registry=WEB)
DURATION = Histogram("payfirst_http_request_duration_seconds", "Time to answer a web request, by route and method",
                     ["route", "method"], registry=WEB,
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
#: the label of requests no rule matched (404s of any path: one series, not one per path)
UNMATCHED = "<unmatched>"


def start_clock() -> None:
    """Before a request: when it started."""
    g.metrics_started = time.perf_counter()


def count_request(response: Response) -> Response:
    """After a request (errors too): one more for its route, method and status, and its duration."""
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        DURATION.labels(route, request.method).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
def metrics():
    """The figures in Prometheus's text format, for a scraper with the token or from an allowed address."""
    settings = current().metrics
    if not settings.on:
        abort(404)
    if not (_address_allowed(settings) or _token_good(settings)):
        if settings.token:
            return Response("a bearer token is needed\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'},
                            mimetype="text/plain")
        return Response("this address may not read the metrics\n", 403, mimetype="text/plain")
    registry = scrape_registry(settings)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def scrape_registry(settings: MetricsSettings) -> CollectorRegistry:
    """What one scrape reads: every web process's request figures, then the state of the database and Redis."""
    registry = CollectorRegistry()
    if settings.multiproc_dir:
        MultiProcessCollector(registry, path=settings.multiproc_dir)
    else:
        registry.register(WEB)
    registry.register(StateCollector(db.session, redis_connection(current_app), utcnow()))
    return registry


def _address_allowed(settings: MetricsSettings) -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in settings.allow)


def _token_good(settings: MetricsSettings) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(settings.token) and scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), settings.token.encode())


def init_app(app: Flask) -> None:
    """Count every request of the app, and serve /metrics."""
    app.before_request_funcs.setdefault(None, []).insert(0, start_clock)  # before any hook that may answer early
    app.after_request(count_request)
    app.register_blueprint(bp)
    limiter.exempt(bp)  # a scraper every few seconds is not an attack (and the limits' storage stays quiet)
