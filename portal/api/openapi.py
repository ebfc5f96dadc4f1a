"""The OpenAPI document of /api/v1, built with apispec from the shapes the endpoints return."""
from __future__ import annotations

from apispec import APISpec
from flask import jsonify

from portal.api.alarms import KINDS as ALARM_KINDS
from portal.api.alarms import STATES as ALARM_STATES
from portal.api.blueprint import NO_NUL, bp
from portal.api.notifications import MAX_LIMIT
from portal.api.payments import CASH_MAX_FEN, OPTIONAL_TEXT, ORDER_CHANNELS
from portal.control.commands import ACTIONS
from portal.models import DeliveryStatus
from portal.settings import current, public_url

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
}
ACCOUNT = {
    "type": "object",
    "required": ["code", "name", "balance_fen", "status", "meters"],
    "properties": {
        "code": {"type": "string"},
        "name": {"type": "string"},
        "balance_fen": {"type": "integer", "description": "integer fen (1/100 yuan)"},
        "status": {"type": "string", "enum": ["active", "closed"]},
        "meters": {"type": "array", "items": {"type": "string"}},
    },
}
METER = {
    "type": "object",
    "required": ["code", "kind", "control_mode", "online", "supply_actual", "supply_desired", "keep_power"],
    "properties": {
        "code": {"type": "string"},
        "kind": {"type": "string", "enum": ["electric", "water"]},
        "control_mode": {"type": "string", "enum": ["platform", "meter"]},
        "online": {"type": "boolean"},
        "supply_actual": {"type": "string", "enum": ["on", "off"], "nullable": True},
        "supply_desired": {"type": "string", "enum": ["on", "off"]},
        "keep_power": {"type": "boolean"},
        "energy_total": {"type": "string", "nullable": True, "pattern": r"^\d+\.\d+$",
                         "description": "decimal kWh (water: m³)"},
        "power_w": {"type": "integer", "nullable": True},
        "remaining_fen": {"type": "integer", "nullable": True, "description": "meter mode only"},
        "purchase_count": {"type": "integer", "nullable": True, "description": "meter mode only"},
        "last_seen": {"type": "string", "format": "date-time", "nullable": True},
    },
}


COMMAND_REQUEST = {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "reason": {"type": "string", "maxLength": 200, "pattern": NO_NUL},
    },
}
COMMAND_ACCEPTED = {
    "type": "object",
    "required": ["command", "meter"],
    "properties": {
        "command": {"type": "object", "required": ["id", "action", "status"],
                    "properties": {"id": {"type": "integer"}, "action": {"type": "string", "enum": list(ACTIONS)},
                                   "status": {"type": "string"}}},
        "meter": {"$ref": "#/components/schemas/Meter"},
    },
}
ORDER = {
    "type": "object",
    "required": ["out_trade_no", "status", "amount_fen", "account"],
    "properties": {
        "out_trade_no": {"type": "string"},
        "status": {"type": "string", "enum": ["created", "paid", "credited", "closed", "refunded"]},
        "amount_fen": {"type": "integer"},
        "account": {"type": "string"},
        "channel": {"type": "string"},
        "pay_url": {"type": "string", "description": "alipay_wap: the page to open"},
        "qr_code": {"type": "string", "description": "alipay_qr: content of the QR code"},
        "code_url": {"type": "string", "description": "wechat_native: content of the QR code"},
        "jsapi_params": {"type": "object", "description": "wechat_jsapi: WeixinJSBridge parameters"},
    },
}
USAGE = {
    "type": "object",
    "required": ["account", "unit", "days"],
    "properties": {
        "account": {"type": "string"},
        "unit": {"type": "string", "enum": ["kWh", "m³"]},
        "days": {"type": "array", "description": "every business day of the period, in order", "items": {
            "type": "object",
            "required": ["date", "usage", "charged_fen"],
            "properties": {
                "date": {"type": "string", "format": "date"},
                "usage": {"type": "string", "pattern": r"^-?\d+\.\d+$",
                          "description": "decimal kWh (water: m³), summed over the shop's meters of that kind"},
                "charged_fen": {"type": "integer", "description": "energy or water charges posted that day"},
            }}},
    },
}
#: a day of the years 2000 to 2100 (portal.web.params); a date that does not exist (02-30) is a 400 too
DAY = {"type": "string", "format": "date", "pattern": r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"}
USAGE_PARAMS = (
    {"name": "from", "in": "query", "required": False, "schema": DAY,
     "description": "first business day, YYYY-MM-DD (default: 29 days before `to`)"},
    {"name": "to", "in": "query", "required": False, "schema": DAY,
     "description": "last business day, YYYY-MM-DD (default: today); from..to at most 366 days, else 400"},
    {"name": "kind", "in": "query", "required": False, "schema": {"type": "string", "enum": ["electric", "water"]},
     "description": "which meters to sum (default: electric, or water for a shop with water meters only)"},
)
#: the channels and statuses of a delivery (portal.notify.channels, portal.models.DeliveryStatus)
DELIVERY_CHANNELS = ["wechat", "aliyun", "modem", "log"]
DELIVERIES = {
    "type": "array", "description": "newest first", "items": {
        "type": "object",
        "required": ["event", "channel", "recipient", "status", "attempts", "created_at", "sent_at"],
        "properties": {
            "event": {"type": "string", "description": "what happened: low_balance_1, supply_off, meter_offline..."},
            "channel": {"type": "string", "description": "the channel of the current or last attempt: "
                                                         + ", ".join(DELIVERY_CHANNELS)},
            "recipient": {"type": "string", "description": "a phone number or a WeChat openid; masked "
                                                           "(139****0001) unless the caller keeps the recipients"},
            "status": {"type": "string", "enum": [s.value for s in DeliveryStatus]},
            "attempts": {"type": "integer", "minimum": 0},
            "created_at": {"type": "string", "format": "date-time"},
            "sent_at": {"type": "string", "format": "date-time", "nullable": True},
        }},
}
#: `limit` of a list (portal.api.notifications.limit_arg)
LIMIT_PARAM = {"name": "limit", "in": "query", "required": False,
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
               "description": "how many, newest first (default 50)"}
NOTIFICATIONS_PARAMS = (
    {"name": "account", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1,
                                                                     "pattern": NO_NUL},
     "description": "the shop's code"},
    LIMIT_PARAM,
)
ALARMS = {
    "type": "object",
    "required": ["alarms"],
    "properties": {"alarms": {"type": "array", "description": "newest first (by when raised)", "items": {
        "type": "object",
        "required": ["id", "kind", "subject", "site", "account", "meter", "gateway", "message", "raised_at",
                     "cleared_at", "acknowledged_by"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": list(ALARM_KINDS)},
            "subject": {"type": "string", "description": "what it is about: meter:<id>, gateway:<id>, "
                                                         "account:<id>, order:<id> (with a suffix for a second "
                                                         "alarm of one kind, e.g. meter:<id>:write)"},
            "site": {"type": "string", "description": "the site's code"},
            "account": {"type": "string", "nullable": True, "description": "the shop's code"},
            "meter": {"type": "string", "nullable": True, "description": "the meter's code"},
            "gateway": {"type": "string", "nullable": True, "description": "the gateway's code (an alarm about "
                                                                           "the gateway itself)"},
            "message": {"type": "string", "description": "the alarm's sentence, in English"},
            "raised_at": {"type": "string", "format": "date-time"},
            "cleared_at": {"type": "string", "format": "date-time", "nullable": True,
                           "description": "null while it is open"},
            "acknowledged_by": {"type": "string", "nullable": True,
                                "description": "who acknowledged it (staff:<username>), null when nobody has"},
        }}}},
}
ALARMS_PARAMS = (
    {"name": "state", "in": "query", "required": False, "schema": {"type": "string", "enum": list(ALARM_STATES)},
     "description": "open (not cleared; the default) or all"},
    {"name": "kind", "in": "query", "required": False, "schema": {"type": "string", "enum": list(ALARM_KINDS)},
     "description": "only alarms of this kind"},
    {"name": "site", "in": "query", "required": False, "schema": {"type": "string", "pattern": NO_NUL},
     "description": "only this site's (its code; 404 when it is not one of yours)"},
    LIMIT_PARAM,
)
CASH_RESULT = {
    "type": "object",
    "required": ["entry_id", "account", "amount_fen", "balance_fen"],
    "properties": {"entry_id": {"type": "integer"}, "account": {"type": "string"},
                   "amount_fen": {"type": "integer"}, "balance_fen": {"type": "integer"}},
}


def _order_request() -> dict:
    """The order request, its amount bounded by this deployment's payment limits (PAY_MIN_FEN, PAY_MAX_FEN)."""
    limits = current().payments
    return {
        "type": "object",
        "required": ["account", "amount_fen", "channel"],
        "properties": {
            "account": {"type": "string", "pattern": NO_NUL},
            "amount_fen": {"type": "integer", "minimum": limits.min_fen, "maximum": limits.max_fen,
                           "description": "integer fen; the site's maximum balance (counting open orders) may "
                                          "refuse less (400)"},
            "channel": {"type": "string", "enum": list(ORDER_CHANNELS)},
            **{name: {"type": "string", "maxLength": longest, "pattern": NO_NUL}
               for name, longest in OPTIONAL_TEXT.items()},
        },
    }


CASH_REQUEST = {
    "type": "object",
    "required": ["amount_fen"],
    "properties": {"amount_fen": {"type": "integer", "minimum": 1, "maximum": CASH_MAX_FEN,
                                  "description": "integer fen; above the site's counter limit: 403"},
                   "note": {"type": "string", "maxLength": 200, "pattern": NO_NUL}},
}
IDEMPOTENCY_KEY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": "^[!-~]{1,100}$"},
    "description": "a retry with the same key and body posts nothing more; another body is 409",
}


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": NO_NUL}}


def _operation(summary: str, status: str, result: str, errors: tuple[str, ...], *, params: tuple[str, ...] = (),
               request: str | None = None, headers: tuple[dict, ...] = (), links: dict | None = None) -> dict:
    """One operation: its path parameters, body, answer, links from that answer, and errors (400 and 401 always:
    a malformed request, a NUL character, a missing token)."""
    answer = {"description": "done", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{result}"}}}}
    if links:
        answer["links"] = links
    op = {
        "summary": summary,
        "security": [{"bearer": []}],
        "parameters": [_path_param(name) for name in params] + list(headers),
        "responses": {status: answer,
                      **{code: {"$ref": "#/components/responses/Error"} for code in sorted({"400", "401", *errors})}},
    }
    if request:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{request}"}}}}
    return op


#: links between operations (the workflows a client follows, and Schemathesis's stateful tests)
ACCOUNT_LINKS = {
    "GetAccountUsage": {"operationId": "getAccountUsage", "parameters": {"code": "$response.body#/code"}},
    "GetNotifications": {"operationId": "getNotifications", "parameters": {"account": "$response.body#/code"}},
    "PostCashRecharge": {"operationId": "postCashRecharge", "parameters": {"code": "$response.body#/code"}},
    "PostOrder": {"operationId": "postOrder", "requestBody": {"account": "$response.body#/code",
                                                              "amount_fen": 1000, "channel": "alipay_wap"}},
}
METER_LINKS = {"PostCommand": {"operationId": "postMeterCommand", "parameters": {"code": "$response.body#/code"}}}
ORDER_LINKS = {
    "GetOrder": {"operationId": "getOrder", "parameters": {"out_trade_no": "$response.body#/out_trade_no"}},
    "GetAccount": {"operationId": "getAccount", "parameters": {"code": "$response.body#/account"}},
}
CASH_LINKS = {"GetAccount": {"operationId": "getAccount", "parameters": {"code": "$response.body#/account"}}}


def _paths() -> dict:
    found = "404: none in your sites; 409: the code is in several of your sites"
    return {
        "/accounts/{code}": {"get": {
            **_operation(f"An account's balance and meters ({found})", "200", "Account", ("404", "409"),
                         params=("code",), links=ACCOUNT_LINKS), "operationId": "getAccount"}},
        "/accounts/{code}/usage": {"get": {
            **_operation(f"A shop's use and charges per business day, from the daily roll-ups ({found})", "200",
                         "Usage", ("404", "409"), params=("code",), headers=USAGE_PARAMS),
            "operationId": "getAccountUsage"}},
        "/notifications": {"get": {
            **_operation(f"A shop's delivery log: every message about it, to its tenants and to staff recipients "
                         f"for its alarms (403: a cashier; {found})", "200", "Deliveries", ("403", "404", "409"),
                         headers=NOTIFICATIONS_PARAMS), "operationId": "getNotifications"}},
        "/alarms": {"get": {
            **_operation("The alarms of your sites, newest first: open ones (state=open, the default) or all, of "
                         "one kind, of one site (404: a site not yours)", "200", "Alarms", ("403", "404"),
                         headers=ALARMS_PARAMS), "operationId": "getAlarms"}},
        "/meters/{code}": {"get": {
            **_operation(f"A meter's latest state ({found})", "200", "Meter", ("404", "409"), params=("code",),
                         links=METER_LINKS), "operationId": "getMeter"}},
        "/meters/{code}/commands": {"post": {
            **_operation("Change a meter's desired supply or keep-power; the poller applies it at once. trip/close: "
                         "operator or manager; keep_power_on/off: manager (403 otherwise). A command for a gateway "
                         "that is down is applied when it returns; 422: the meter has no relay or valve",
                         "202", "CommandAccepted", ("403", "404", "409", "422"), params=("code",),
                         request="CommandRequest"), "operationId": "postMeterCommand"}},
        "/orders": {"post": {
            **_operation("Create a payment order and get the channel's pay data (409: the account is closed; 503: "
                         "the channel is not configured here)", "201", "Order", ("404", "409", "503"),
                         request="OrderRequest", links=ORDER_LINKS), "operationId": "postOrder"}},
        "/orders/{out_trade_no}": {"get": {
            **_operation("An order's status", "200", "Order", ("404",), params=("out_trade_no",),
                         links={"GetAccount": ORDER_LINKS["GetAccount"]}), "operationId": "getOrder"}},
        "/accounts/{code}/cash-recharges": {"post": {
            **_operation("Post a cash or transfer recharge (cashier, manager; 403 above the site's counter limit, "
                         "which needs a manager's approval at the counter; 409: the account is closed, or the key "
                         "was sent with another body)", "201", "CashRechargeResult", ("403", "404", "409"),
                         params=("code",), request="CashRecharge", headers=(IDEMPOTENCY_KEY_HEADER,),
                         links=CASH_LINKS), "operationId": "postCashRecharge"}},
    }


def build_spec() -> dict:
    """The document as a dict."""
    spec = APISpec(
        title="PayFirst API", version="1", openapi_version="3.0.3",
        info={"description": "Money is integer fen; energy a decimal string. Errors: {error: {code, message}}; "
                             "an unknown method is 405 with Allow."},
        servers=[{"url": public_url("/api/v1")}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in (("Error", ERROR), ("Account", ACCOUNT), ("Meter", METER), ("CommandRequest", COMMAND_REQUEST),
                         ("CommandAccepted", COMMAND_ACCEPTED), ("Order", ORDER), ("OrderRequest", _order_request()),
                         ("CashRecharge", CASH_REQUEST), ("CashRechargeResult", CASH_RESULT),
                         ("Usage", USAGE), ("Deliveries", DELIVERIES), ("Alarms", ALARMS)):
        spec.components.schema(name, schema)
    spec.components.response("Error", {"description": "error", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    for path, operations in _paths().items():
        spec.path(path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API."""
    return jsonify(build_spec())
