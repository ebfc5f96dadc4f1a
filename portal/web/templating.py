"""What every template may use, whatever its audience: money, energy and time formatting, and labels.

Formatting only: nothing here reads the database or knows who is looking. What a page shows comes from its
own view (htmx answers are in portal.web.htmx, who may do what in portal.web.access).
"""
from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_babel import format_datetime, get_locale

from portal.money import format_price, format_yuan, in_capitals, yuan
from portal.settings import business_tz
from portal.web.labels import label, who


def hundredths(value: int | None) -> str:
    """An integer in hundredths (0.01 kWh) as a decimal string: 123456 -> '1234.56'."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    whole, part = divmod(abs(int(value)), 100)
    return f"{sign}{whole}.{part:02d}"


def quantity(value: int | None, kind: str = "electric") -> str:
    """Stored energy as people read it: 0.01 kWh -> '123.45 kWh', litres -> '1.234 m³'."""
    if value is None:
        return "—"
    sign, value = ("-" if value < 0 else ""), abs(int(value))
    if kind == "water":
        return f"{sign}{value // 1000:,}.{value % 1000:03d} m³"
    return f"{sign}{value // 100:,}.{value % 100:02d} kWh"


def local_time(value: datetime | None, fmt: str = "short") -> str:
    """A UTC timestamp shown in the business time zone."""
    if value is None:
        return "—"
    return format_datetime(value.astimezone(business_tz()), fmt)


def init_app(app: Flask) -> None:
    """Register the filters and globals: app-wide, so they are the same for every audience."""
    app.jinja_env.filters["yuan"] = format_yuan
    app.jinja_env.filters["yuan_plain"] = yuan
    app.jinja_env.filters["yuan_e4"] = format_price
    app.jinja_env.filters["capitals"] = in_capitals
    app.jinja_env.filters["hundredths"] = hundredths
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.globals["label"] = label
    app.jinja_env.globals["who"] = who
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["quantity"] = quantity
