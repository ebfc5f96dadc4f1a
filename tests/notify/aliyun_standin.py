"""A local stand-in for the Aliyun SMS API (Dysmsapi 2017-05-25, `SendSms`), on 127.0.0.1.

It checks every request's V3 signature (ACS3-HMAC-SHA256) as Aliyun documents it ("V3 版本请求体&签名机制"),
written here from that description and the standard library alone, never with the SDK's code:

    CanonicalRequest = Method \\n CanonicalURI \\n CanonicalQueryString \\n CanonicalHeaders \\n SignedHeaders
                       \\n HashedRequestPayload
    CanonicalQueryString: parameters sorted by name, names and values percent-encoded per RFC 3986 (UTF-8;
                          A-Z a-z 0-9 - _ . ~ kept, space as %20), `name=value` joined by `&`
    CanonicalHeaders: each signed header as `lower-case name:trimmed value\\n`, sorted by name; `host`, every
                      `x-acs-*` header and `content-type` (when sent) must be signed
    HashedRequestPayload: hex SHA-256 of the body, also sent as x-acs-content-sha256
    StringToSign = "ACS3-HMAC-SHA256" \\n hex(SHA-256(CanonicalRequest))
    Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;c>,Signature=<hex HMAC-SHA256 of
                   StringToSign under the AccessKey secret>

It answers as the service does: HTTP 200 with a JSON body {Code, Message, RequestId, BizId} for every answer of
SendSms itself (OK, isv.BUSINESS_LIMIT_CONTROL for a number over its limit, isv.SMS_TEMPLATE_ILLEGAL,
isv.SMS_SIGNATURE_ILLEGAL, isv.MOBILE_NUMBER_ILLEGAL, isv.TEMPLATE_MISSING_PARAMETERS); HTTP 400
SignatureDoesNotMatch, HTTP 404 InvalidAccessKeyId.NotFound and HTTP 400 for a replayed nonce or a stale date,
from the gateway in front of it. `fail_next` scripts any other answer; `delay` makes it slow.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "ACS3-HMAC-SHA256"
ACTION, VERSION = "SendSms", "2017-05-25"
#: a mainland mobile number, with or without +86 / 0086 (the service also takes several, comma-separated)
MOBILE = re.compile(r"^(?:\+?86|0086)?1[3-9]\d{9}$")
#: how far x-acs-date may be from the server's clock
CLOCK_SKEW = timedelta(minutes=15)
_biz = itertools.count(900_619_746_936_498)


def encode(value: str) -> str:
    """RFC 3986 percent-encoding of UTF-8, as Aliyun's signature wants it (only A-Za-z0-9-_.~ kept)."""
    return quote(value, safe="-_.~", encoding="utf-8")


def canonical_request(method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
                      signed: list[str], payload_hash: str) -> str:
    """The V3 canonical request from the request as received (query decoded, header names lower-case)."""
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted((encode(k), encode(v)) for k, v in query))
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
    canonical_uri = quote(unquote(path or "/"), safe="/-_.~", encoding="utf-8")
    return "\n".join([method.upper(), canonical_uri, canonical_query, canonical_headers, ";".join(signed),
                      payload_hash])


def signature(secret: str, canonical: str) -> str:
    """hex HMAC-SHA256 of the string to sign under the secret."""
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def parse_authorization(value: str) -> dict[str, str] | None:
    """{Credential, SignedHeaders, Signature} of an ACS3-HMAC-SHA256 Authorization header, or None."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    return fields if {"Credential", "SignedHeaders", "Signature"} <= fields.keys() else None


@dataclass(frozen=True)
class SentSms:
    """A SendSms the stand-in accepted, as it read it."""

    phone: str
    sign: str
    template: str
    params: dict
    out_id: str | None
    biz_id: str
    #: the template's text with the params filled in, as the phone would show it (sign first)
    text: str


class AliyunSmsStandIn:
    """The service for one AccessKey pair, its approved signs and templates (code -> text with ${name}s)."""

    def __init__(self, access_key_id: str, access_key_secret: str, signs: set[str], templates: dict[str, str],
                 *, limit_per_number: int | None = None):
        self.access_key_id, self.access_key_secret = access_key_id, access_key_secret
        self.signs, self.templates = set(signs), dict(templates)
        #: sends accepted per number before isv.BUSINESS_LIMIT_CONTROL (the service's minute limit is 1)
        self.limit_per_number = limit_per_number
        #: seconds to wait before answering (a slow service, for timeouts)
        self.delay = 0.0
        self.accepted: list[SentSms] = []
        #: every request's outcome code, accepted or not, in order
        self.answers: list[str] = []
        #: every request as received: (method, path, query pairs, headers with lower-case names, body)
        self.requests: list[tuple[str, str, list[tuple[str, str]], dict[str, str], bytes]] = []
        self._scripted: list[tuple[int, str, str]] = []
        self._nonces: set[str] = set()
        self._per_number: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- running -----------------------------------------------------------------------------------------------

    def start(self) -> AliyunSmsStandIn:
        standin = self

        class Handler(_Handler):
            service = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # a short poll, so that stop() returns at once
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                         name="aliyun-sms-standin").start()
        return self

    def stop(self) -> None:
        """Stop listening and drop the kept-alive connections too: the service is gone, not just deaf."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> AliyunSmsStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """ALIYUN_SMS_ENDPOINT for this stand-in."""
        assert self._server is not None, "start() it first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, code: str, message: str = "", status: int = 200) -> None:
        """The next validly signed SendSms gets this answer instead of being looked at."""
        with self._lock:
            self._scripted.append((status, code, message or code))

    # --- the service ---------------------------------------------------------------------------------------------

    def check(self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
              body: bytes) -> tuple[int, dict]:
        """(HTTP status, JSON answer) for one request, as the gateway and then SendSms take it."""
        fields = parse_authorization(headers.get("authorization", ""))
        if fields is None:
            return 400, _error("MissingAuthorization", "Authorization is mandatory for this action.")
        if fields["Credential"] != self.access_key_id:
            return 404, _error("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = fields["SignedHeaders"].split(";")
        must = {"host", "content-type"} & headers.keys() | {h for h in headers if h.startswith("x-acs-")}
        if signed != sorted(signed) or not must <= set(signed):
            return 400, _error("IncompleteSignature", f"The request signature does not conform to Aliyun "
                                                      f"standards: sign {sorted(must)}, sorted.")
        payload_hash = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload_hash:
            return 400, _error("ContentSHA256NotMatch", "The x-acs-content-sha256 does not match the body.")
        canonical = canonical_request(method, path, query, headers, signed, payload_hash)
        if not hmac.compare_digest(signature(self.access_key_secret, canonical), fields["Signature"]):
            return 400, _error("SignatureDoesNotMatch", "Specified signature is not matched with our calculation. "
                                                        f"server string to sign is:{canonical!r}")
        if not _fresh(headers.get("x-acs-date", "")):
            return 400, _error("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        with self._lock:
            nonce = headers.get("x-acs-signature-nonce", "")
            if not nonce or nonce in self._nonces:
                return 400, _error("SignatureNonceUsed", "Specified signature nonce was used already.")
            self._nonces.add(nonce)
        if (headers.get("x-acs-action"), headers.get("x-acs-version")) != (ACTION, VERSION):
            return 400, _error("InvalidAction.NotFound", "Specified api is not found, please check your url and "
                                                         "method.")
        params = dict(query)
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        return self.send_sms(params)

    def send_sms(self, p: dict[str, str]) -> tuple[int, dict]:
        """SendSms on parameters whose signature was good."""
        with self._lock:
            if self._scripted:
                status, code, message = self._scripted.pop(0)
                return status, (_answer(code, message) if status == 200 else _error(code, message))
        phone, sign, template = p.get("PhoneNumbers", ""), p.get("SignName", ""), p.get("TemplateCode", "")
        if not phone or not sign or not template:
            return 200, _answer("isv.INVALID_PARAMETERS", "参数异常")
        if not all(MOBILE.match(n) for n in phone.split(",")):
            return 200, _answer("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if sign not in self.signs:
            return 200, _answer("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        if template not in self.templates:
            return 200, _answer("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            params = json.loads(p["TemplateParam"]) if p.get("TemplateParam") else {}
        except ValueError:
            return 200, _answer("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        text = self.templates[template]
        missing = [name for name in re.findall(r"\$\{(\w+)\}", text) if name not in params]
        if missing:
            return 200, _answer("isv.TEMPLATE_MISSING_PARAMETERS", f"模版缺少变量: {', '.join(missing)}")
        with self._lock:
            if self.limit_per_number is not None and self._per_number.get(phone, 0) >= self.limit_per_number:
                return 200, _answer("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
            biz_id = f"{next(_biz)}^0"
            filled = re.sub(r"\$\{(\w+)\}", lambda m: str(params[m.group(1)]), text)
            self._per_number[phone] = self._per_number.get(phone, 0) + 1
            self.accepted.append(SentSms(phone, sign, template, params, p.get("OutId"), biz_id, f"【{sign}】{filled}"))
        return 200, {**_answer("OK", "OK"), "BizId": biz_id}


def _answer(code: str, message: str) -> dict:
    return {"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper()}


def _error(code: str, message: str) -> dict:
    """The gateway's error body (it has HostId and Recommend where SendSms's answers have BizId)."""
    return {**_answer(code, message), "HostId": "dysmsapi.aliyuncs.com",
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=Dysmsapi"}


def _fresh(stamp: str) -> bool:
    """x-acs-date is ISO 8601 UTC (2026-12-06T11:19:21Z) and within CLOCK_SKEW of now."""
    try:
        at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return False
    return abs(datetime.now(UTC) - at) <= CLOCK_SKEW


class _Handler(BaseHTTPRequestHandler):
    service: AliyunSmsStandIn
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pooled session expects
    # headers and body leave in two writes: without TCP_NODELAY the body waits ~40 ms for the client's delayed ACK
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.service._lock:
            self.service._connections.add(self.connection)

    def finish(self) -> None:
        with self.service._lock:
            self.service._connections.discard(self.connection)
        super().finish()

    def do_POST(self):
        self._handle()

    def do_GET(self):
        self._handle()

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        query = parse_qsl(url.query, keep_blank_values=True)
        with self.service._lock:
            self.service.requests.append((self.command, url.path, query, headers, body))
        if self.service.delay:
            time.sleep(self.service.delay)
        status, answer = self.service.check(self.command, url.path, query, headers, body)
        with self.service._lock:
            self.service.answers.append(answer["Code"])
        data = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # quiet: the tests read `answers`
        pass
