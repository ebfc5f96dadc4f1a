"""Command-line interface of the portal: `flask --app wsgi ...` (SPEC §4); the worker adds its own."""
from __future__ import annotations

from flask import Flask

from portal.cli import accounts, admin, demo, energy, monthly, payments


def register_cli(app: Flask) -> None:
    """Attach every command group of the portal to the app."""
    for group in (accounts, admin, demo, energy, monthly, payments):
        group.register(app)
