"""PayFirst portal: the Flask application factory."""
from __future__ import annotations

from flask import Flask, request, session

from portal.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate
from portal.settings import Settings

LANGUAGES = ("zh", "en")


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app; `test_config` overrides settings read from the environment."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    settings = Settings.from_env()
    app.config.from_mapping(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        REDIS_URL=settings.redis_url,
        PUBLIC_BASE_URL=settings.public_base_url,
        TZ_BUSINESS=settings.tz_business,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_DEFAULT_TIMEZONE=settings.tz_business,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        # In-process jobs run on a background thread unless a test wants them inline.
        JOBS_INLINE=False,
    )
    if test_config:
        app.config.update(test_config)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_root() / "migrations"), compare_type=True, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    htmx.init_app(app)
    limiter.init_app(app)

    from portal import auth, compress, jobs, templating
    from portal.api import bp as api_bp
    from portal.auth.views import bp as auth_bp, landing
    from portal.cli import register_cli
    from portal.health import bp as health_bp
    from portal.pay import bp as pay_bp
    from portal.staff import bp as staff_bp
    from portal.tenant import bp as tenant_bp

    auth.init_app(app)
    templating.init_app(app)
    compress.init_app(app)  # the tenant page must weigh under 150 KB on the wire (WeUI alone is 188 KB)
    jobs.init_app(app)
    for bp in (auth_bp, tenant_bp, staff_bp, pay_bp, api_bp, health_bp):
        app.register_blueprint(bp)
    app.add_url_rule("/", "index", landing)
    csrf.exempt(api_bp)  # bearer tokens, not cookies
    csrf.exempt(pay_bp)  # signed by the payment platforms
    register_cli(app)
    return app


def select_locale() -> str:
    """The visitor's chosen language, else the browser's preference, Chinese by default."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default="zh") if request else "zh"


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # The demo's web threads, job thread and cron thread share one file.
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    import portal.pool  # noqa: F401  (connections idle for a while are pinged before use)

    return {"pool_size": 10, "max_overflow": 20}


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent
