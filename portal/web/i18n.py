"""The interface languages: Chinese by default, English on request."""
from __future__ import annotations

from flask import has_request_context, request, session

LANGUAGES = ("zh", "en")


def select_locale() -> str:
    """The visitor's chosen language, else the browser's preference, Chinese by default."""
    if not has_request_context():
        return "zh"
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default="zh")
