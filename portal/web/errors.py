"""Error pages in the visitor's language and the layout of the area they were in, never Werkzeug's English.

A tenant (under /t/, /pay/, /auth/tenant, /auth/wechat, /r/) gets a WeUI message page on base_tenant.html, staff
(under /staff, /auth/staff) a page on base_staff.html, anyone else a neutral page. htmx gets the message in the
page's flash area instead of a page (static/js/htmx-errors.js lets htmx swap it). What is not a page keeps its own
errors: the JSON API answers its own (portal/api/blueprint.py, asked first here, see `init_app`), and the payment
notify routes keep their platform's protocol, so their errors stay as they are.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, default_exceptions

from portal.extensions import db
from portal.web.htmx import error_answer

TENANT_PATHS = ("/t/", "/pay/", "/auth/tenant", "/auth/wechat", "/r/")
STAFF_PATHS = ("/staff", "/auth/staff")
#: the statuses with words of their own; any other error gets the general ones with its status
CODES = (400, 401, 403, 404, 405, 429, 500)
#: when even the error page cannot be drawn (a template or the database broken): no template, no database
FALLBACK = ('<!doctype html><html lang="zh-CN"><meta charset="utf-8"><meta name="viewport" '
            'content="width=device-width, initial-scale=1"><title>出错了 · Error</title>'
            "<h1>系统出错了，请稍后再试。</h1><p>Something went wrong. Please try again in a moment.</p></html>")


def _words(exc: HTTPException) -> tuple[str, str]:
    """The title and the sentence for this error, in the request's language."""
    if isinstance(exc, CSRFError):
        return _("This page has expired"), _("The form was open too long, or was sent from another page. "
                                             "Go back, reload the page and try again.")
    words = {
        400: (_("Bad request"), _("The request could not be understood. Go back and try again.")),
        401: (_("Please log in"), _("Log in to see this page.")),
        403: (_("Not allowed"), _("Your account may not open this page.")),
        404: (_("Page not found"), _("This page does not exist, or it is not yours to see.")),
        405: (_("Not available this way"), _("This address cannot be used like that. Go back and use the page's "
                                             "buttons.")),
        429: (_("Too many attempts"), _("Please wait a minute, then try again.")),
        500: (_("Something went wrong"), _("The error has been recorded. Please try again in a moment.")),
    }
    return words.get(exc.code, (_("Something went wrong"), _("The request could not be answered.")))


def area() -> str:
    """Whose page this request was for: 'tenant', 'staff' or 'other'."""
    path = request.path
    if path.startswith(TENANT_PATHS):
        return "tenant"
    if path.startswith(STAFF_PATHS):
        return "staff"
    return "other"


def _is_notify() -> bool:
    return request.path.startswith("/pay/") and request.path.endswith("/notify")


def _draw(template: str, **context) -> str:
    """The page, or FALLBACK when drawing it fails: an error page must never fail itself."""
    try:
        return render_template(template, **context)
    except Exception:
        current_app.logger.exception("the error page %s could not be drawn", template)
        return FALLBACK


def error_page(exc: HTTPException) -> Response | HTTPException:
    """The answer to an error: a page in the area's layout, the flash message for htmx, the notify's own."""
    if _is_notify():
        return exc  # the platform reads the status; the body stays what its protocol route would give
    if exc.code is None or exc.code >= 500:
        try:
            db.session.rollback()  # the failed request may have left the session unusable; the page may read it
        except Exception:
            current_app.logger.exception("rollback before the error page failed")
    code = exc.code or 500
    title, message = _words(exc)
    detail = _detail(exc)
    where = area()
    response = error_answer(
        code,
        lambda: _draw(f"errors/{where}.html", title=title, message=message, detail=detail, code=code,
                      home=_home(where)),
        lambda: _draw("errors/_flash.html", title=title, message=message, detail=detail, code=code))
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value  # Allow (405), Retry-After (429)
    return response


def _detail(exc: HTTPException) -> str | None:
    """What our own code said of a 4xx (`abort(400, description=...)`: which parameter, and what it may be);
    None for Werkzeug's stock English sentence, and for server errors, whose words say nothing to a visitor."""
    if exc.code is None or exc.code >= 500 or isinstance(exc, CSRFError):
        return None
    stock = getattr(type(exc), "description", None)
    return exc.description if exc.description and exc.description != stock else None


def _home(where: str) -> str:
    """Where the page's button leads."""
    return {"tenant": url_for("tenant.home"), "staff": url_for("staff.index")}.get(where, url_for("index"))


def _blueprints_own(exc: HTTPException) -> Callable | None:
    """The request's blueprint's own handler of every HTTP error (the API's JSON answers), if it has one.

    Flask asks the app's handler of a status (ours, for 400) before a blueprint's handler of HTTPException, so an
    `abort(400)` in the API would get a page: this hands it back to the blueprint.
    """
    if not request.blueprint:
        return None
    return current_app.error_handler_spec.get(request.blueprint, {}).get(None, {}).get(HTTPException)


def _handler(earlier: Callable | None):
    """The error page, after a handler registered earlier for the same status has had its say."""

    def handle(exc: HTTPException):
        own = _blueprints_own(exc)
        if own is not None:
            return own(exc)
        if earlier is not None:
            answer = earlier(exc)
            if answer is not exc:  # the earlier handler answered (the API's JSON); it hands back what is not its own
                return answer
        return error_page(exc)

    return handle


def init_app(app: Flask) -> None:
    """Register the pages for every error status; call after the blueprints are registered.

    The API blueprint answers unknown paths under /api/v1 with an app-wide 404/405 handler: registering ours
    for the same status replaces it, so ours asks it first and draws a page only for what it hands back.
    """
    for code in CODES:
        earlier = app.error_handler_spec[None].get(code, {}).get(default_exceptions[code])
        app.register_error_handler(code, _handler(earlier))
    app.register_error_handler(HTTPException, error_page)  # any other status (413, 415...) gets a page too
