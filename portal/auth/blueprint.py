"""The auth blueprint (/auth): logins, logout, the language switch, and where to go after them."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, request

bp = Blueprint("auth", __name__, url_prefix="/auth")


def safe_next(default: str) -> str:
    """Only same-site relative redirects after login."""
    target = request.args.get("next", "")
    parsed = urlparse(target)
    # Browsers read "/\evil" as "//evil" and drop tabs and newlines, so those are refused too.
    if (target.startswith("/") and not target.startswith("//") and not parsed.netloc
            and "\\" not in target and target.isprintable()):
        return target
    return default
