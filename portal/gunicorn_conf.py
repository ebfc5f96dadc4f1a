"""gunicorn's settings for PayFirst: `gunicorn -c python:portal.gunicorn_conf wsgi:app` (add -w, -b as usual).

- Metrics of several workers: with PROMETHEUS_MULTIPROC_DIR set, every worker writes its request counts to
  files there (portal/metrics/web.py). The directory is emptied when gunicorn starts (counts of an earlier run
  would be added to this one's) and a worker that exits is marked dead, so its live figures stop counting.
- Logs: gunicorn's own records (start-up, workers, access lines) go out as LOG_FORMAT says, like the app's,
  and each access line ends with the request id the app answered with.

The environment is read as wsgi.py reads it (.env first, then `Settings.from_env`), before any worker forks:
prometheus_client decides at import whether it writes to files, and the workers inherit that decision.
"""
from __future__ import annotations

from pathlib import Path

from dotenv import load_dotenv

load_dotenv()

from portal.logs import gunicorn_logconfig  # noqa: E402  (after .env is loaded)
from portal.settings import Settings  # noqa: E402

_settings = Settings.from_env()

logconfig_dict = gunicorn_logconfig(_settings.logs)
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def on_starting(_server) -> None:
    """Before the first worker: an empty metrics directory (it must exist and be writable)."""
    path = _settings.metrics.multiproc_dir
    if path:
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("*.db"):
            leftover.unlink()


def child_exit(_server, worker) -> None:
    """A worker exited: its gauges of live processes stop counting (its counters' totals stay)."""
    path = _settings.metrics.multiproc_dir
    if path:
        from prometheus_client import multiprocess  # here: only with several processes writing to files

        multiprocess.mark_process_dead(worker.pid, path)
