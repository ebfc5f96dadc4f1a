"""The JSON API blueprint: bearer tokens of staff users, JSON errors."""
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
    return jsonify(error={"code": exc.code, "message": exc.message}), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
    return jsonify(error={"code": code, "message": exc.description}), exc.code


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

