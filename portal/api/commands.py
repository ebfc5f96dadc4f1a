"""POST /api/v1/meters/<code>/commands: the same commands as the staff area, with the same roles."""
from __future__ import annotations

from flask import g, jsonify

from portal.api.blueprint import ApiError, bp, json_body
from portal.api.resources import find_in_scope, meter_json
from portal.control.commands import ACTIONS, CommandRefused, command_meter
from portal.extensions import db
from portal.models import Meter
from portal.web.roles import may_command


@bp.post("/meters/<code>/commands")
def post_meter_command(code: str):
    """Trip, close or set keep-power: changes the desired state; the poller applies it at once."""
    body = json_body("action", "reason")
    if not isinstance(body.get("action"), str):
        raise ApiError(400, "invalid_request", 'send a JSON object like {"action": "trip"}')
    action = body["action"]
    if action not in ACTIONS:
        raise ApiError(400, "invalid_action", f"action must be one of {', '.join(ACTIONS)}")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        raise ApiError(400, "invalid_request", "reason must be a string of at most 200 characters")
    meter = find_in_scope(Meter, code)
    if not may_command(g.api_user.role, action):
        raise ApiError(403, "forbidden", f"role {g.api_user.role.value} may not {action}")
    try:
        cmd = command_meter(db.session, meter, action, f"api:{g.api_user.username}", reason)
    except CommandRefused as exc:
        raise ApiError(422, "unsupported", str(exc)) from None
    db.session.commit()
    return jsonify(command={"id": cmd.id, "action": cmd.action, "status": cmd.status.value},
                   meter=meter_json(meter)), 202
