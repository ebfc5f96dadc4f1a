"""htmx answers, decided in one place: the partial for htmx, the whole page otherwise, and a form's answer.

A page includes its partials (`_name.html`, one root element with a stable id) and htmx gets the same partial
alone, so both answers come from one template. htmx 2 does not swap a 4xx answer unless told to, so a refused
form answers htmx with 200 and the partial with the error in it; a plain browser post of the same form gets the
whole page with 422, or a flash message and a redirect back. Every answer here varies on HX-Request, so a cache
never hands a partial to a page load.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Response, flash, make_response, redirect, render_template, request

#: the status of a refused form for htmx: 2xx, which htmx swaps
HTMX_REFUSED = 200
#: the status of a refused form posted by a plain browser form (the page with the error in it)
PAGE_REFUSED = 422
#: the status of a page asked for with a query that makes no sense (a filter out of range)
QUERY_REFUSED = 400


def is_htmx() -> bool:
    """Whether htmx asked for a partial: a boosted link or a history restore wants the whole page instead."""
    hx = request.htmx  # htmx_flask's view of the HX-* headers (portal.extensions binds it to the app)
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def _varied(response: Response) -> Response:
    response.vary.add("HX-Request")
    return response


def render(page: str, partial: str, /, *, refused: bool = False, page_only: Callable[[], dict] | None = None,
           **context) -> Response:
    """The partial alone for htmx, else the page that includes it; `refused` forms: 200 for htmx, else 422.

    `page_only` gives what only the whole page shows (the recharge form around a status that polls...): it is
    called only when the page is rendered.
    """
    if is_htmx():
        return _varied(make_response(render_template(partial, **context), HTMX_REFUSED if refused else 200))
    if page_only is not None:
        context = {**page_only(), **context}
    return _varied(make_response(render_template(page, **context), PAGE_REFUSED if refused else 200))


def refuse_query(page: str, partial: str, /, **context) -> Response:
    """A page asked for with a query that makes no sense (a filter): 400 and the page saying why; htmx gets the
    partial saying why with 200, so that it is shown."""
    if is_htmx():
        return _varied(make_response(render_template(partial, **context), HTMX_REFUSED))
    return _varied(make_response(render_template(page, **context), QUERY_REFUSED))


def fragment(partial: str, /, *, refused: bool = False, **context) -> Response:
    """The answer of an endpoint that only htmx calls (a table row's button): the partial, even when refused."""
    status = (HTMX_REFUSED if is_htmx() else PAGE_REFUSED) if refused else 200
    return _varied(make_response(render_template(partial, **context), status))


def answer_form(partial: str, back: str, context: Callable[[], dict], /, *, error: str | None = None,
                message: str | None = None, redirect_code: int = 302) -> Response:
    """A form's answer: htmx gets the partial with the error or message in it; a plain post a flash and `back`.

    `context()` builds what the partial shows (with the error in it): only htmx needs it.
    """
    if is_htmx():
        return _varied(make_response(render_template(partial, **context()), HTMX_REFUSED if error else 200))
    if error or message:
        flash(error or message, "error" if error else "info")
    return _varied(redirect(back, redirect_code))


def go_to(url: str, *, code: int = 303, htmx_status: int = 204) -> Response:
    """Send the browser to another page: HX-Redirect for htmx (a redirect would be swapped into the target)."""
    if is_htmx():
        response = make_response("", htmx_status)
        response.headers["HX-Redirect"] = url
        return _varied(response)
    return _varied(redirect(url, code))


def error_answer(status: int, page: Callable[[], str], flash: Callable[[], str]) -> Response:
    """An error: the page for a browser; for htmx the message aimed at the page's flash area.

    htmx swaps no 4xx/5xx by itself; static/js/htmx-errors.js swaps an error answer retargeted at #flash.
    """
    if is_htmx():
        response = make_response(flash(), status)
        response.headers.update({"HX-Retarget": "#flash", "HX-Reswap": "outerHTML"})
        return _varied(response)
    return _varied(make_response(page(), status))
