"""The OpenAPI document of /api/v1, built with apispec from the shapes the endpoints return."""
from __future__ import annotations

from apispec import APISpec
from flask import jsonify

from portal.api.blueprint import bp
from portal.settings import public_url

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object",
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
        "action": {"type": "string", "enum": ["trip", "close", "keep_power_on", "keep_power_off"]},
        "reason": {"type": "string", "maxLength": 200},
    },
}
COMMAND_ACCEPTED = {
    "type": "object",
    "properties": {
        "command": {"type": "object", "properties": {"id": {"type": "integer"}, "action": {"type": "string"},
                                                     "status": {"type": "string"}}},
        "meter": {"$ref": "#/components/schemas/Meter"},
    },
}


def _command_path() -> dict:
    return {
        "post": {
            "summary": "Change a meter's desired supply or keep-power; the poller applies it at once",
            "description": "trip/close: operator or manager; keep_power_on/off: manager. A command for a "
                           "gateway that is down is applied when it returns.",
            "security": [{"bearer": []}],
            "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CommandRequest"}}}},
            "responses": {
                "202": {"description": "accepted", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CommandAccepted"}}}},
                **{code: {"$ref": "#/components/responses/Error"} for code in ("400", "401", "403", "404", "422")},
            },
        }
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
ORDER_REQUEST = {
    "type": "object",
    "required": ["account", "amount_fen", "channel"],
    "properties": {
        "account": {"type": "string"},
        "amount_fen": {"type": "integer", "minimum": 1},
        "channel": {"type": "string", "enum": ["alipay_wap", "alipay_qr", "wechat_native", "wechat_jsapi"]},
        "openid": {"type": "string", "description": "wechat_jsapi: the payer's openid"},
        "return_url": {"type": "string"},
    },
}
CASH_REQUEST = {
    "type": "object",
    "required": ["amount_fen"],
    "properties": {"amount_fen": {"type": "integer", "minimum": 1}, "note": {"type": "string", "maxLength": 200}},
}
CASH_RESULT = {
    "type": "object",
    "properties": {"entry_id": {"type": "integer"}, "account": {"type": "string"},
                   "amount_fen": {"type": "integer"}, "balance_fen": {"type": "integer"}},
}


def _post(summary: str, request_schema: str, status: str, result_schema: str, errors: tuple, param: str | None = None,
          headers: list | None = None) -> dict:
    op = {
        "summary": summary,
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{request_schema}"}}}},
        "responses": {
            status: {"description": "done", "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{result_schema}"}}}},
            **{code: {"$ref": "#/components/responses/Error"} for code in errors},
        },
        "parameters": ([{"name": param, "in": "path", "required": True, "schema": {"type": "string"}}] if param else [])
        + (headers or []),
    }
    return {"post": op}


def _get(summary: str, schema: str, param: str) -> dict:
    return {
        "get": {
            "summary": summary,
            "security": [{"bearer": []}],
            "parameters": [{"name": param, "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "found",
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
            },
        }
    }


def build_spec() -> dict:
    """The document as a dict."""
    spec = APISpec(
        title="PayFirst API", version="1", openapi_version="3.0.3",
        info={"description": "Money is integer fen; energy a decimal string. Errors: {error: {code, message}}."},
        servers=[{"url": public_url("/api/v1")}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", ERROR)
    spec.components.schema("Account", ACCOUNT)
    spec.components.schema("Meter", METER)
    spec.components.response("Error", {"description": "error", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    spec.path("/accounts/{code}", operations=_get("An account's balance and meters", "Account", "code"))
    spec.path("/meters/{code}", operations=_get("A meter's latest state", "Meter", "code"))
    spec.components.schema("CommandRequest", COMMAND_REQUEST)
    spec.components.schema("CommandAccepted", COMMAND_ACCEPTED)
    spec.path("/meters/{code}/commands", operations=_command_path())
    spec.components.schema("Order", ORDER)
    spec.components.schema("OrderRequest", ORDER_REQUEST)
    spec.components.schema("CashRecharge", CASH_REQUEST)
    spec.components.schema("CashRechargeResult", CASH_RESULT)
    spec.path("/orders", operations=_post("Create a payment order and get the channel's pay data (409: the account "
                                          "is closed)", "OrderRequest", "201", "Order",
                                          ("400", "401", "404", "409", "503")))
    spec.path("/orders/{out_trade_no}", operations=_get("An order's status", "Order", "out_trade_no"))
    spec.path("/accounts/{code}/cash-recharges", operations=_post(
        "Post a cash or transfer recharge (cashier, manager; 403 above the site's counter limit, which needs a "
        "manager's approval at the counter; 409: the account is closed, or the key was sent with another body)",
        "CashRecharge", "201", "CashRechargeResult", ("400", "401", "403", "404", "409"), param="code",
        headers=[{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                  "description": "a retry with the same key and body posts nothing more; another body is 409"}]))
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API."""
    return jsonify(build_spec())
