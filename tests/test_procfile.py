"""The Procfile (docs/deploy.md, one machine): every queue has a worker, there is one cron and one outbox relay,
and `honcho start` brings up a web process that answers and an RQ worker on each queue, then stops them all."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from honcho.environ import parse_procfile
from rq import Worker

from portal.queue.names import QUEUES
from tests.browser import ROOT
from tests.servers import free_port, wait_until_healthy

PROCFILE = ROOT / "Procfile"


def processes() -> dict[str, str]:
    return dict(parse_procfile(PROCFILE.read_text()).processes)


def test_every_queue_has_a_worker_and_there_is_one_cron():
    procs = processes()
    served = [q for cmd in procs.values() if cmd.startswith("flask --app wsgi worker ")
              for q in cmd.split()[4:]]
    assert sorted(served) == sorted(q for q in QUEUES if q != "sms_modem")  # the modem's: where the modem is
    assert [n for n, cmd in procs.items() if cmd == "flask --app wsgi cron"] == ["cron"]
    assert [n for n, cmd in procs.items() if cmd == "flask --app wsgi relay"] == ["relay"]  # the outbox relay
    assert procs["web"].startswith("gunicorn ") and procs["web"].endswith(" wsgi:app")


@pytest.mark.slow
@pytest.mark.no_db
def test_the_notify_bench_runs_gunicorn_with_the_web_process_s_workers():
    """`make bench` measures the notify route under the web process's own settings: as many sync workers as the
    Procfile gives it when WEB_WORKERS is unset."""
    import re

    from bench.notify import WEB_WORKERS

    web = processes()["web"]
    assert re.search(r"-w \$\{WEB_WORKERS:-(\d+)\}", web).group(1) == str(WEB_WORKERS)
    assert "-k" not in web.split()  # gunicorn's default worker class: sync, as the bench runs it


def test_honcho_starts_the_web_the_workers_and_the_cron_and_stops_them(empty_database, redis_url, tmp_path):
    url = empty_database.replace("postgresql://", "postgresql+psycopg://", 1)
    port = free_port()
    env_file = tmp_path / ".env"
    env_file.write_text(f"DATABASE_URL={url}\nREDIS_URL={redis_url}\nSECRET_KEY=procfile-test\nWEB_WORKERS=1\n"
                        f"BIND=127.0.0.1:{port}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # gunicorn and flask of this virtualenv
    subprocess.run(["flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, check=True, capture_output=True,
                   env={**env, "DATABASE_URL": url, "SECRET_KEY": "procfile-test"})
    honcho = subprocess.Popen([sys.executable, "-m", "honcho", "-f", str(PROCFILE), "-e", str(env_file), "-d",
                               str(ROOT), "start"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    conn = redis.Redis.from_url(redis_url)
    want = set(QUEUES) - {"sms_modem"}
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", honcho,
                           ready=lambda: {q for w in Worker.all(connection=conn) for q in w.queue_names()} >= want)
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        output = honcho.communicate(timeout=60)[0].decode(errors="replace")
    assert "Traceback" not in output, output
    assert Worker.all(connection=conn) == []  # each worker stopped and said so to Redis
