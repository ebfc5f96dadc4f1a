"""A local stand-in for the official account's API (公众号): the access token and template messages, on 127.0.0.1.

Written from WeChat's documentation, independently of wechatpy (only the standard library):
- GET /cgi-bin/token?grant_type=client_credential&appid=&secret= → {"access_token", "expires_in": 7200}; a wrong
  appid answers 40013, a wrong secret 40125. A new token retires every token before it — at once here, where
  WeChat allows five minutes' grace — so processes that each fetch their own refuse each other's.
- POST /cgi-bin/message/template/send?access_token= with JSON {touser, template_id, url, data, client_msg_id}:
  no token 41001, one never issued or retired 40001, an expired one 42001; data must be {"name": {"value": "…"}}
  (else 47003); then {"errcode": 0, "errmsg": "ok", "msgid": N}. One message per openid and client_msg_id: a
  repeat answers the first msgid and is not delivered again (WeChat promises this for ten minutes).
On demand: `fail_next(*errcodes)` answers the next sends with those errcodes (after the token check);
`expire_tokens()` makes the current token expired; `delay` holds every send's answer (to time a client out, the
message still delivered); `token_delay` holds the token's answer (to let processes race for it).
"""
from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

ERRMSG = {
    -1: "system error", 40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid", 40013: "invalid appid", 40014: "invalid access_token", 40037: "invalid template_id",
    40125: "invalid appsecret", 41001: "access_token missing", 42001: "access_token expired",
    43004: "require subscribe", 45009: "reach max api daily quota limit", 45047: "out of response count limit",
    47003: "argument invalid!", 48001: "api unauthorized",
}


@dataclass(frozen=True)
class Delivery:
    """A template message the stand-in accepted, as the recipient's WeChat would show it."""

    openid: str
    template_id: str
    data: dict
    url: str | None
    client_msg_id: str | None
    msgid: int


class OfficialAccountStandIn:
    """The official account's token and template-message API on one local HTTP server."""

    def __init__(self, appid: str, secret: str):
        self.appid, self.secret = appid, secret
        self.token_fetches = 0
        #: every send request that reached the stand-in, accepted or not; and the messages delivered
        self.send_attempts = 0
        self.delivered: list[Delivery] = []
        self.requests: list[str] = []
        self.delay = 0.0
        self.token_delay = 0.0
        self._current: str | None = None
        self._expired: set[str] = set()
        self._failures: list[int] = []
        self._by_client_msg_id: dict[tuple[str, str], int] = {}
        self._msgids = itertools.count(2_000_000_001)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="wechat-mp-standin", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> OfficialAccountStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- on demand ---

    def fail_next(self, *errcodes: int) -> None:
        """Answer the next sends with these errcodes, one each, in order."""
        with self.lock:
            self._failures.extend(errcodes)

    def expire_tokens(self) -> None:
        """The current token reaches its end: sends with it answer 42001 until a new one is fetched."""
        with self.lock:
            if self._current:
                self._expired.add(self._current)

    # --- the API ---

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, dict]:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        self.requests.append(f"{method} {parts.path}")
        if method == "GET" and parts.path == "/cgi-bin/token":
            time.sleep(self.token_delay)
            return 200, self._token(query)
        if method == "POST" and parts.path == "/cgi-bin/message/template/send":
            answer = self._send(query.get("access_token"), body)
            time.sleep(self.delay)
            return 200, answer
        return 404, {"errcode": 404, "errmsg": "not found"}

    def _token(self, query: dict) -> dict:
        if query.get("grant_type") != "client_credential" or query.get("appid") != self.appid:
            return _error(40013)
        if query.get("secret") != self.secret:
            return _error(40125)
        with self.lock:
            self.token_fetches += 1
            self._current = secrets.token_urlsafe(48)  # the ones before it are retired
            return {"access_token": self._current, "expires_in": 7200}

    def _send(self, token: str | None, body: bytes) -> dict:
        with self.lock:
            self.send_attempts += 1
            if not token:
                return _error(41001)
            if token in self._expired:
                return _error(42001)
            if token != self._current:
                return _error(40001)
            if self._failures:
                return _error(self._failures.pop(0))
            try:
                doc = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return _error(47001)
            data = doc.get("data")
            if (not doc.get("touser") or not doc.get("template_id") or not isinstance(data, dict)
                    or not all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values())):
                return _error(47003)
            client_msg_id = doc.get("client_msg_id")
            repeat = self._by_client_msg_id.get((doc["touser"], client_msg_id)) if client_msg_id else None
            if repeat is not None:
                return {"errcode": 0, "errmsg": "ok", "msgid": repeat}
            msgid = next(self._msgids)
            self.delivered.append(Delivery(doc["touser"], doc["template_id"], data, doc.get("url"), client_msg_id,
                                           msgid))
            if client_msg_id:
                self._by_client_msg_id[(doc["touser"], client_msg_id)] = msgid
            return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def _error(errcode: int) -> dict:
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}


def _handler(standin: OfficialAccountStandIn):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._answer(*standin.handle("GET", self.path, b""))

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self._answer(*standin.handle("POST", self.path, self.rfile.read(length)))

        def _answer(self, status: int, doc: dict) -> None:
            body = json.dumps(doc, ensure_ascii=False).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; encoding=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left: the message was delivered all the same

        def log_message(self, format, *args):
            pass

    return Handler
