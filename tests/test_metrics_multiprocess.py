"""Request counts of several web processes add up (PROMETHEUS_MULTIPROC_DIR), in separate processes and under a
real gunicorn with two workers run with portal/gunicorn_conf.py."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "multi-token"

#: one web process: answers `hits` requests to /healthz, then (when asked) prints a scrape of /metrics
CHILD = """
import sys
from portal import create_app
app = create_app({"TESTING": True})
client = app.test_client()
for _ in range(int(sys.argv[1])):
    assert client.get("/healthz").status_code == 200
if sys.argv[2:3] == ["scrape"]:
    sys.stdout.write(client.get("/metrics", headers={"Authorization": "Bearer " + sys.argv[3]}).get_data(as_text=True))
"""


def env_for(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(directory), METRICS_TOKEN=TOKEN, LOG_FORMAT="json")
    return env


def healthz_counts(text: str) -> dict[str, float]:
    """/healthz requests by method and status, from a scrape."""
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "payfirst_http_requests"]
    return {f"{s.labels['method']} {s.labels['status']}": s.value for s in family.samples
            if s.name.endswith("_total") and s.labels["route"] == "/healthz"}


def run_child(directory: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, env=env_for(directory),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_processes_counts_are_added_up_by_a_third(app, tmp_path):
    run_child(tmp_path, "3")
    run_child(tmp_path, "4")
    text = run_child(tmp_path, "0", "scrape", TOKEN)
    assert healthz_counts(text) == {"GET 200": 7}
    assert len(list(tmp_path.glob("counter_*.db"))) == 3  # one file per process that counted


@pytest.mark.slow
def test_gunicorn_with_two_workers_counts_every_request_whichever_worker_answers(app, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left over from a run before")  # emptied at start
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen([str(gunicorn), "-c", "python:portal.gunicorn_conf", "-w", "2", "-b",
                               f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env_for(metrics_dir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server)  # its first /healthz: one of the 41 counted below
        with ThreadPoolExecutor(8) as pool:  # at once, on new connections: usually both workers answer some
            answers = list(pool.map(lambda _: requests.get(f"{base}/healthz", timeout=30), range(40)))
        assert {a.status_code for a in answers} == {200}
        assert len({a.headers["X-Request-ID"] for a in answers}) == 40
        scrape = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert scrape.status_code == 200
        assert healthz_counts(scrape.text) == {"GET 200": 41}
        pids = {p.name.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}
        assert "1.db" not in pids and pids  # the leftover went; which workers answered is gunicorn's choice
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    access = [line for line in err.splitlines() if '"GET /metrics' in line]
    assert access and access[0].startswith("{") and f"request_id={scrape.headers['X-Request-ID']}" in access[0]


@pytest.mark.no_db
def test_gunicorn_hooks_empty_the_directory_at_start_and_mark_a_dead_worker(tmp_path, monkeypatch):
    from dataclasses import replace
    from types import SimpleNamespace

    from portal import gunicorn_conf

    settings = gunicorn_conf._settings
    monkeypatch.setattr(gunicorn_conf, "_settings", replace(
        settings, metrics=replace(settings.metrics, multiproc_dir=str(tmp_path / "metrics"))))
    gunicorn_conf.on_starting(None)  # makes the directory
    old = tmp_path / "metrics" / "counter_41.db"
    old.write_bytes(b"")
    gunicorn_conf.on_starting(None)
    assert not old.exists()
    live = tmp_path / "metrics" / "gauge_livesum_42.db"
    kept = tmp_path / "metrics" / "counter_42.db"
    live.write_bytes(b"")
    kept.write_bytes(b"")
    gunicorn_conf.child_exit(None, SimpleNamespace(pid=42))
    assert not live.exists() and kept.exists()  # a dead worker's counts still count
