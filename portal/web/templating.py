"""Template helpers: money and energy formatting, and full-page-or-partial rendering in one place."""
from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app, render_template, request
from flask_babel import format_datetime, get_locale

from portal.control.commands import may_command
from portal.models.meter import SWITCHABLE_PROFILES
from portal.money import format_price, format_yuan, yuan
from portal.settings import business_tz
from portal.web.labels import label


def hundredths(value: int | None) -> str:
    """An integer in hundredths (0.01 kWh) as a decimal string: 123456 -> '1234.56'."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    whole, part = divmod(abs(int(value)), 100)
    return f"{sign}{whole}.{part:02d}"


def local_time(value: datetime | None, fmt: str = "short") -> str:
    """A UTC timestamp shown in the business time zone."""
    if value is None:
        return "—"
    return format_datetime(value.astimezone(business_tz()), fmt)


def render_page_or_partial(template: str, partial: str, **context):
    """Render the whole page, or just its partial when htmx asks; vary the cache on HX-Request."""
    name = partial if request.headers.get("HX-Request") == "true" else template
    response = current_app.make_response(render_template(name, **context))
    response.vary.add("HX-Request")
    return response


def init_app(app: Flask) -> None:
    """Register filters and globals."""
    app.jinja_env.filters["yuan"] = format_yuan
    app.jinja_env.filters["yuan_plain"] = yuan
    app.jinja_env.filters["yuan_e4"] = format_price
    app.jinja_env.filters["hundredths"] = hundredths
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.globals["label"] = label
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["may_command"] = may_command
    app.jinja_env.globals["switchable"] = SWITCHABLE_PROFILES
