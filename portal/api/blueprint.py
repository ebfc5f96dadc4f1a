"""The JSON API blueprint: bearer tokens of staff users, JSON bodies read safely, JSON errors."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from portal.api.tokens import user_for_token
from portal.web.roles import may_send

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class ApiError(Exception):
    """An error answered as JSON {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    response = jsonify(error={"code": exc.code, "message": exc.message})
    if exc.status == 401:  # RFC 6750: say which scheme the API takes
        response.headers["WWW-Authenticate"] = 'Bearer realm="PayFirst API"'
    return response, exc.status


#: what every text field of a request matches, in the OpenAPI document too: no NUL (PostgreSQL text holds none)
NO_NUL = r"^[^\x00]*$"


def json_body(*text_fields: str) -> dict:
    """The request's JSON object; 400 when it is none (nested too deep for the parser included) or when one of
    `text_fields` holds a NUL character. Fields the endpoint does not read are ignored, whatever they hold."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # the parser recurses once per level: a body of 100,000 "[" exhausts the stack
        raise ApiError(400, "invalid_request", "the JSON body nests too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "send a JSON object (Content-Type: application/json)")
    for name in text_fields:
        if isinstance(body.get(name), str) and "\x00" in body[name]:
            raise ApiError(400, "invalid_request", f"{name} may not contain NUL characters")
    return body


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
    response = jsonify(error={"code": code, "message": exc.description})
    for name, value in exc.get_headers():  # Allow of a 405, Retry-After of a 429...: all but the HTML type
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, exc.code


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _routing_error(exc: HTTPException):
    """Unknown paths and methods under /api/v1 never reach the blueprint: answer them as JSON too."""
    if request.path == bp.url_prefix or request.path.startswith(bp.url_prefix + "/"):
        return _http_error(exc)
    return exc


@bp.before_request
def authenticate():
    """Every call but the OpenAPI document needs `Authorization: Bearer <token>`."""
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    user = user_for_token(token.strip())
    if user is None:
        raise ApiError(401, "unauthorized", "unknown, revoked, expired or inactive token")
    if not may_send(user.role, request.method):
        raise ApiError(403, "forbidden", f"a {user.role.value} reads and changes nothing")
    g.api_user = user

