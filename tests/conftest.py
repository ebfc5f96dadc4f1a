"""Fixtures: a fresh PostgreSQL database per test run (schema by migrations), clean tables per test.

Every test starts with empty tables: after each test every row is deleted. That isolates tests that
commit from many threads (the ledger concurrency tests) the same way as the rest.
"""
from __future__ import annotations

import contextlib
import os
import uuid

import psycopg
import pytest
from flask import request_started
from sqlalchemy import text

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
pytest_plugins = ["tests.factories"]


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    base, _, _ = _plain(url).rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def database_url():
    """A database created for this run (and this xdist worker), dropped at the end."""
    name = f"payfirst_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(_plain(TEST_DATABASE_URL), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(TEST_DATABASE_URL, name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def redis_url():
    """A Redis database of its own for each xdist worker, emptied before the run."""
    import redis

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = 1 + int(worker.removeprefix("gw") or 0) % 14
    base = TEST_REDIS_URL.rsplit("/", 1)[0] if TEST_REDIS_URL.count("/") > 2 else TEST_REDIS_URL
    url = f"{base}/{index}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def empty_database():
    """A database of its own, empty (no schema), for a test that builds one itself; dropped afterwards."""
    name = f"payfirst_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_plain(TEST_DATABASE_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(TEST_DATABASE_URL, name)
    finally:
        with psycopg.connect(_plain(TEST_DATABASE_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def app(database_url):
    """The app on the test database, schema created by `flask db upgrade` (Alembic)."""
    from flask_migrate import upgrade

    os.environ["SECRET_KEY"] = "test-secret"
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)
    # The suite logs tenants in as the embedded demo does (account code + phone); tests/auth checks it is
    # off on PostgreSQL unless asked for.
    os.environ["TENANT_DEMO_LOGIN"] = "1"
    # Quiet hours depend on the clock: a test would send at 14:00 and hold at 23:00. They are off unless a test
    # sets them (tests/notify/test_hours.py, test_send.py's quiet-hours cases).
    os.environ["NOTIFY_QUIET_HOURS"] = "off"
    from portal import create_app
    from worker import cli as worker_cli

    app = create_app({"TESTING": True, "JOBS_INLINE": True, "WTF_CSRF_ENABLED": False,
                      "RATELIMIT_ENABLED": False})
    worker_cli.init_app(app)  # as wsgi.py does: the worker's commands on the same command line
    # A test holds one app context for its whole length (below), and a test client's request reuses it, and
    # with it `g`: the user Flask-Login loaded and the CSRF token of the previous request would carry over to
    # the next, even to another client. In production every request has a `g` of its own; here too.
    request_started.connect(_fresh_g, app)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        from portal.extensions import db

        db.engine.dispose()


def _fresh_g(sender, **_extra) -> None:
    from flask import g

    for name in list(vars(g)):
        delattr(g, name)


@pytest.fixture(autouse=True)
def _app_context(request, app):
    """Each test runs in an app context and leaves empty tables behind."""
    from portal.extensions import db

    if "no_db" in request.keywords:
        yield
        return
    with app.app_context():
        yield
        db.session.remove()
        empty_tables()


def empty_tables() -> None:
    """Delete every row, children first (DELETE is ~70x faster than TRUNCATE on these small tables)."""
    from portal.extensions import db

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE sites SET default_tariff_id = NULL"))  # the one reference cycle
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def sqlite_app(tmp_path, app):
    """sqlite_app(admin=False, **config) -> an app on an SQLite file built by the migrations, as `make demo` builds
    it, whose app context the test runs in from then on (closed, with its connections, afterwards); `admin`: with
    an administrator `boss` (password tests.factories.PASSWORD)."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db
    from portal.models import Role, StaffUser
    from tests.factories import PASSWORD

    with contextlib.ExitStack() as stack:
        def make(admin: bool = False, **config):
            demo = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.db'}",
                               "SQLALCHEMY_ENGINE_OPTIONS": {}, **config})
            stack.enter_context(demo.app_context())
            stack.callback(db.engine.dispose)
            stack.callback(db.session.remove)
            upgrade()
            if admin:
                user = StaffUser(username="boss", role=Role.ADMIN, active=True)
                user.set_password(PASSWORD)
                db.session.add(user)
                db.session.commit()
            return demo

        yield make


@pytest.fixture
def second_app(app):
    """second_app(**config) -> another app on the same database, made from the environment as it is then
    (a test may monkeypatch.setenv first); its connections are closed afterwards."""
    from portal import create_app
    from portal.extensions import db

    made = []

    def make(**config):
        made.append(create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "JOBS_INLINE": True, **config}))
        return made[-1]

    yield make
    for each in made:
        with each.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def server(app):
    """The session's app on 127.0.0.1 (an ephemeral port), in a thread, for a module's browser tests."""
    from tests.browser import served  # here: only browser tests load Playwright

    with served(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a module's browser tests (pages open with tests.browser's helpers)."""
    from tests.browser import chromium  # here: only browser tests load Playwright

    with chromium() as chromium_browser:
        yield chromium_browser


@pytest.fixture(scope="module")
def base_url(server):
    """Where a browser test's pages are (a module may serve the app otherwise: see sandbox_server)."""
    return server


@pytest.fixture
def sandbox_server(app, server, monkeypatch, tmp_path_factory, reload_settings):
    """The served app with PUBLIC_BASE_URL pointing at it and the payment sandbox switched on (its notifies
    come back to this server)."""
    from portal.payments.providers.sandbox import ensure_demo_keys

    keys = tmp_path_factory.getbasetemp() / "pay-sandbox-keys"
    ensure_demo_keys(keys)
    for name in ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY_FILE", "ALIPAY_PUBLIC_KEY_FILE", "ALIPAY_GATEWAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYFIRST_SANDBOX", "1")
    reload_settings()
    monkeypatch.setitem(app.config, "ALIPAY_SANDBOX_KEY_DIR", str(keys))
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", server)
    return server


@pytest.fixture
def redis_app(database_url, redis_url):
    """A second app on the same database whose queue is real Redis (RQ), for outbox and worker tests."""
    import redis

    from portal import create_app
    from portal.extensions import db
    from worker import cli as worker_cli

    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "WTF_CSRF_ENABLED": False})
    worker_cli.init_app(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture
def reload_settings(app, monkeypatch):
    """reload_settings(): read the settings again from the environment, as a restarted app would.

    For tests that set variables with monkeypatch.setenv; the app's own settings come back afterwards.
    """
    from flask import current_app, has_app_context

    from portal.settings import Settings

    def reload() -> None:
        settings = Settings.from_env()
        apps = {app, current_app._get_current_object()} if has_app_context() else {app}  # e.g. redis_app too
        for each in apps:
            monkeypatch.setitem(each.config, "SETTINGS", settings)

    return reload


@pytest.fixture
def db_session(app):
    """The Flask-SQLAlchemy session of the app."""
    from portal.extensions import db

    return db.session


@pytest.fixture
def client(app):
    """A test client (CSRF off; tests of CSRF use `csrf_client`)."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner for `flask --app wsgi ...` commands."""
    return app.test_cli_runner()


@pytest.fixture
def csrf_on(app):
    """Turn CSRF protection on for one test."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False
