"""Command-line interface: `flask --app wsgi ...` (SPEC §4)."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    """Attach every command group to the app."""
    from portal.cli import admin, billing, demo, payments, queue

    for group in (admin, billing, demo, payments, queue):
        group.register(app)
