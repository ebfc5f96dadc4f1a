"""/metrics: off unless a token or an allow-list is set, Prometheus's text format, and figures that are right."""
from __future__ import annotations

import socket
from datetime import timedelta

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, SimpleWorker

from portal.extensions import db
from portal.metrics.polls import POLL_SECONDS_KEY, record_poll_seconds
from portal.models import DeliveryStatus, NotifyOutcome, PaymentNotification, utcnow
from portal.settings import Settings, SettingsError
from worker.jobs.base import job

TOKEN = "s3cret-scraper-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@job("control")
def explode_for_metrics() -> None:
    """A job that fails: it lands in its queue's failed-job registry."""
    raise RuntimeError("meant to fail")


def families(text: str) -> dict:
    """{family name: {labels as a sorted tuple of pairs: value}} of a scrape (samples of the family's own name)."""
    found = {}
    for family in text_string_to_metric_families(text):
        found[family.name] = {tuple(sorted(s.labels.items())): s.value for s in family.samples
                              if s.name in (family.name, family.name + "_total")}
    return found


@pytest.fixture
def metrics_on(monkeypatch, reload_settings):
    """METRICS_TOKEN set (and no allow-list)."""
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    monkeypatch.delenv("METRICS_ALLOW", raising=False)
    reload_settings()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(client) -> dict:
    res = client.get("/metrics", headers=BEARER)
    assert res.status_code == 200, res.get_data(as_text=True)
    assert res.mimetype == "text/plain"
    return families(res.get_data(as_text=True))


# --- access ----------------------------------------------------------------------------------------------------

def test_metrics_are_off_without_a_token_or_an_allow_list(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=BEARER).status_code == 404


def test_a_token_is_needed_and_must_be_right(client, metrics_on):
    res = client.get("/metrics")
    assert res.status_code == 401 and res.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401  # no scheme
    assert client.get("/metrics", headers=BEARER).status_code == 200


def test_an_allowed_address_needs_no_token_and_another_is_refused(client, monkeypatch, reload_settings):
    monkeypatch.setenv("METRICS_ALLOW", "10.0.0.0/8, 192.168.1.7")
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    reload_settings()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.1.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.1.8"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 403


def test_the_allow_list_sees_the_client_after_the_trusted_proxies(second_app, monkeypatch):
    monkeypatch.setenv("METRICS_ALLOW", "10.0.0.0/8")
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", "1")
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    client = second_app().test_client()
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/metrics", environ_base=via_proxy,
                      headers={"X-Forwarded-For": "10.1.1.1"}).status_code == 200
    assert client.get("/metrics", environ_base=via_proxy,
                      headers={"X-Forwarded-For": "8.8.8.8"}).status_code == 403
    # a client naming an allowed address itself, before the proxy's: the proxy's word counts
    assert client.get("/metrics", environ_base=via_proxy,
                      headers={"X-Forwarded-For": "10.1.1.1, 8.8.8.8"}).status_code == 403


def test_either_a_token_or_an_allowed_address_lets_a_scraper_in(client, monkeypatch, reload_settings):
    monkeypatch.setenv("METRICS_ALLOW", "10.0.0.0/8")
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    reload_settings()
    outside = {"REMOTE_ADDR": "8.8.8.8"}
    assert client.get("/metrics", environ_base=outside).status_code == 401
    assert client.get("/metrics", environ_base=outside, headers=BEARER).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 200


@pytest.mark.no_db
def test_malformed_metrics_settings_stop_the_start():
    base = {"SECRET_KEY": "x", "DATABASE_URL": "postgresql://h/db"}
    with pytest.raises(SettingsError, match="METRICS_ALLOW"):
        Settings.from_env({**base, "METRICS_ALLOW": "10.0.0.0/8,not-an-address"})
    with pytest.raises(SettingsError, match="PROMETHEUS_MULTIPROC_DIR"):
        Settings.from_env({**base, "PROMETHEUS_MULTIPROC_DIR": " "})
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        Settings.from_env({**base, "LOG_FORMAT": "xml"})
    on = Settings.from_env({**base, "METRICS_ALLOW": "10.0.0.0/8, ::1", "LOG_FORMAT": "JSON"})
    assert on.metrics.on and len(on.metrics.allow) == 2 and on.logs.format == "json"
    assert not Settings.from_env(base).metrics.on


# --- web requests ------------------------------------------------------------------------------------------------

def test_requests_are_counted_by_rule_not_by_path(client, metrics_on):
    route = "/staff/counter/a/<int:account_id>"
    key = (("method", "GET"), ("route", route), ("status", "302"))
    before = scrape(client)["payfirst_http_requests"].get(key, 0)
    assert client.get("/staff/counter/a/101").status_code == 302  # to the login page
    assert client.get("/staff/counter/a/202").status_code == 302
    client.get("/no/such/page/12345")
    counted = scrape(client)["payfirst_http_requests"]
    assert counted[key] == before + 2
    routes = {dict(labels)["route"] for labels in counted}
    assert not any("101" in r or "202" in r or "12345" in r for r in routes)
    assert "<unmatched>" in routes


def test_request_durations_are_a_histogram_by_route(client, metrics_on):
    client.get("/healthz")
    text = client.get("/metrics", headers=BEARER).get_data(as_text=True)
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "payfirst_http_request_duration_seconds"]
    assert family.type == "histogram"
    counts = [s for s in family.samples if s.name.endswith("_count") and s.labels["route"] == "/healthz"]
    assert counts and counts[0].value >= 1


# --- state from the database --------------------------------------------------------------------------------------

def test_gateways_meters_deliveries_and_notifies_have_their_values(client, metrics_on, make_site, make_gateway,
                                                                  make_meter, make_delivery):
    now = utcnow()
    mall = make_site(code="mall")
    make_site(code="empty")
    late = make_gateway(site=mall, code="LATE", online=True, last_seen_at=now - timedelta(minutes=5))
    fresh = make_gateway(site=mall, code="FRESH", online=True, last_seen_at=now - timedelta(seconds=5))
    make_gateway(site=mall, code="NEVER", port=1503)
    make_meter(gateway=late, state=dict(online=False))
    make_meter(gateway=fresh, state=dict(online=True, last_seen_at=now))
    make_meter(gateway=fresh)  # never read: no state row
    make_delivery(site=mall, event="gateway_offline", status=DeliveryStatus.SENT, channel="aliyun")
    make_delivery(site=mall, event="gateway_offline", status=DeliveryStatus.SENT, channel="aliyun")
    make_delivery(site=mall, event="gateway_offline", status=DeliveryStatus.FAILED, channel="wechat")
    for outcome in (NotifyOutcome.ACCEPTED, NotifyOutcome.ACCEPTED, NotifyOutcome.REJECTED):
        db.session.add(PaymentNotification(source="alipay", outcome=outcome, raw=""))
    db.session.commit()

    got = scrape(client)
    site = (("site", "mall"),)
    assert got["payfirst_gateways"] == {site: 3}
    assert got["payfirst_gateways_offline"] == {site: 1}
    assert got["payfirst_gateways_stale"] == {site: 2}  # five minutes old, and never seen
    assert 300 <= got["payfirst_gateway_last_seen_age_seconds_max"][site] < 330
    assert got["payfirst_meters"] == {site: 3}
    assert got["payfirst_meters_offline"] == {site: 2}
    assert got["payfirst_notification_deliveries"] == {
        (("channel", "aliyun"), ("status", "sent")): 2, (("channel", "wechat"), ("status", "failed")): 1}
    assert got["payfirst_payment_notifies"] == {
        (("outcome", "accepted"), ("source", "alipay")): 2, (("outcome", "rejected"), ("source", "alipay")): 1}
    assert "payfirst_rq_queued_jobs" not in got  # the in-process queue has no depth to report


def test_queue_depths_failures_and_poll_durations_come_from_redis(redis_app, monkeypatch, reload_settings,
                                                                   make_site, make_gateway):
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    reload_settings()
    conn = redis.Redis.from_url(redis_app.config["REDIS_URL"])
    gw = make_gateway(site=make_site(code="farm"))
    other = make_gateway(site=gw.site, code="GW-B")
    Queue("control", connection=conn).enqueue(explode_for_metrics)
    SimpleWorker([Queue("control", connection=conn)], connection=conn).work(burst=True)
    reports = Queue("reports", connection=conn)
    for day in ("2026-01-01", "2026-01-02"):
        reports.enqueue("worker.jobs.payments.daily_reconciliation", day)
    record_poll_seconds(conn, gw.id, 1.25)
    record_poll_seconds(conn, other.id, 4.5)
    record_poll_seconds(conn, 999_999, 60.0)  # a gateway since deleted: left out

    got = scrape(redis_app.test_client())
    assert got["payfirst_redis_up"] == {(): 1}
    queued = {dict(k)["queue"]: v for k, v in got["payfirst_rq_queued_jobs"].items()}
    failed = {dict(k)["queue"]: v for k, v in got["payfirst_rq_failed_jobs"].items()}
    assert queued == {"payments": 0, "control": 0, "polling": 0, "notify": 0, "reports": 2, "sms_modem": 0}
    assert failed["control"] == 1 and sum(failed.values()) == 1
    assert set(got["payfirst_rq_started_jobs"].values()) == {0}
    assert got["payfirst_poll_cycle_seconds_max"] == {(("site", "farm"),): 4.5}


def test_a_poll_job_records_how_long_its_cycle_took(redis_app, make_site, make_gateway):
    from worker.jobs.polling import poll_gateway_job

    conn = redis.Redis.from_url(redis_app.config["REDIS_URL"])
    gw = make_gateway(site=make_site(), port=closed_port())  # the gateway is down
    poll_gateway_job(gw.id)
    seconds = float(conn.hget(POLL_SECONDS_KEY, str(gw.id)))
    assert 0 < seconds < 30


def test_redis_down_is_reported_not_a_500(second_app, monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    app = second_app(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    got = scrape(app.test_client())
    assert got["payfirst_redis_up"] == {(): 0}
    assert "payfirst_meters" in got
