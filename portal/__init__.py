"""PayFirst portal: the Flask application factory."""
from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import assets, logs, paths
from portal.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate
from portal.settings import Settings


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app; `test_config` overrides settings read from the environment. A half-built install (no
    front-end files or compiled catalogues: portal.assets) is refused here, before anything is served."""
    assets.check(paths.STATIC, paths.PACKAGE)
    app = Flask(__name__, instance_relative_config=True, instance_path=str(paths.INSTANCE),
                template_folder=str(paths.TEMPLATES), static_folder=str(paths.STATIC))
    settings = Settings.from_env()  # the one read of the environment
    core = settings.core
    app.config.from_mapping(
        SETTINGS=settings,
        # what Flask and its extensions read themselves, from the settings
        SECRET_KEY=core.secret_key,
        SQLALCHEMY_DATABASE_URI=core.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(core.database_url),
        REDIS_URL=core.redis_url,
        PUBLIC_BASE_URL=core.public_base_url,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_DEFAULT_TIMEZONE=core.tz_business,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=core.public_base_url.startswith("https://"),
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        RATELIMIT_STORAGE_URI=core.redis_url or "memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        # In-process jobs run on a background thread unless a test wants them inline.
        JOBS_INLINE=False,
    )
    if test_config:
        app.config.update(test_config)
    if settings.auth.proxy_hops:
        # Behind TRUSTED_PROXY_HOPS reverse proxies: the client's address and scheme are theirs to tell, and
        # only theirs (X-Forwarded-For beyond those hops is the client's own claim, and ignored).
        hops = settings.auth.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    # The rest of the app is imported here, when an app is made: `import portal.<module>` stays light for
    # the worker, the simulator and the benchmarks, which need a model or a rule, not the blueprints.
    from portal import api, auth, pay, staff, tenant
    from portal.auth import sessions
    from portal.auth.views import landing
    from portal.cli import register_cli
    from portal.metrics import web as metrics
    from portal.queue import dispatch
    from portal.web import client, compress, errors, favicon, headers, health, params, templating
    from portal.web.i18n import select_locale

    logs.init_app(app)  # LOG_FORMAT for this process; every request gets an id its jobs carry (portal/logs.py)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(paths.MIGRATIONS), compare_type=True, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    htmx.init_app(app)
    limiter.init_app(app)
    sessions.init_app(app)
    templating.init_app(app)
    headers.init_app(app, settings)  # CSP, no framing, nosniff, HSTS over https (portal/web/headers.py)
    client.init_app(app)  # every audit record written in a request names its client address
    compress.init_app(app)  # the tenant page must weigh under 150 KB on the wire (WeUI alone is 188 KB)
    dispatch.init_app(app)
    params.init_app(app)  # before the blueprints: it bounds the `<int:...>` of their routes
    for blueprint in (auth.bp, tenant.bp, tenant.sticker_bp, staff.bp, pay.bp, api.bp, health.bp):
        app.register_blueprint(blueprint)
    metrics.init_app(app)  # /metrics, and every request counted by route (portal/metrics/web.py)
    errors.init_app(app)  # after the blueprints: the API's own 404/405 answers are asked first
    app.add_url_rule("/", "index", landing)
    favicon.init_app(app)
    csrf.exempt(api.bp)  # bearer tokens, not cookies
    csrf.exempt(pay.bp)  # signed by the payment platforms
    register_cli(app)
    return app


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # The demo's web threads, job thread and cron thread share one file.
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    import portal.pool  # noqa: F401  (registers its pool events: connections idle for a while are pinged before use)

    # No JIT: PostgreSQL compiles a query it estimates to be costly (a site's month of roll-ups is, on paper),
    # which took a third of a second each time, longer than the query ran; the app's queries are short.
    return {"pool_size": 10, "max_overflow": 20, "connect_args": {"options": "-c jit=off"}}
