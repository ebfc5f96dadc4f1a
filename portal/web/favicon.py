"""The site icon: browsers ask for /favicon.ico whatever a page links, so that path answers too."""
from __future__ import annotations

from flask import Flask, redirect, url_for


def favicon():
    """A permanent redirect to the SVG icon the base templates link (static/favicon.svg)."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


def init_app(app: Flask) -> None:
    """Answer /favicon.ico instead of a 404 in every server log."""
    app.add_url_rule("/favicon.ico", "favicon", favicon)
