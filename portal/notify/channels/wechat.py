"""WeChat template messages (模板消息) of the official account, through wechatpy.

A message goes to its recipient's openid with the template configured for its event (WECHAT_TEMPLATE_<EVENT>),
filled from its params and opening its link. Every call needs the account's access token, and WeChat keeps one
token per account: fetching a new one retires the old (after a few minutes' grace). So the token lives in Redis,
shared by the web and worker processes, and only one process fetches it at a time, under a Redis lock; the
demo without Redis keeps it in this process. A token WeChat refuses is dropped, fetched once again, and the
message sent once more.

What WeChat answers becomes an outcome by the table `ERRCODES` below; a network error or timeout is RETRY. A
timed-out send may still have gone out, so every send carries a `client_msg_id` made from the message's key:
WeChat sends one message per openid and client_msg_id within ten minutes, so the retry does not repeat it.
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from urllib.parse import parse_qs, urlsplit

import requests
from redis import Redis, RedisError
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.redisstorage import RedisStorage

from portal.notify.channels.base import Message, Outcome, Result
from portal.settings import Settings

PRODUCTION_API = "https://api.weixin.qq.com/"
#: connect and read timeouts of every call, in seconds
TIMEOUT = (5, 10)
#: a fetched token is kept this much shorter than WeChat says, so that none is used in its last minutes
EARLY_RENEWAL = 300
#: how long a process may hold the fetch lock (it dies holding it: the others wait no longer than this)
LOCK_HOLD = 30

#: WeChat's errcodes for a token it no longer takes: drop it, fetch another, send once more
TOKEN_REJECTED = frozenset({40001, 40014, 42001})

#: What an errcode of /cgi-bin/message/template/send means for the message. Anything not here is RETRY: the
#: caller's attempts bound it, and the code is in the delivery log for staff to look up.
ERRCODES: dict[int, tuple[Outcome, str]] = {
    -1: (Outcome.RETRY, "system busy"),
    45009: (Outcome.RETRY, "the API's daily limit is reached"),
    45047: (Outcome.RETRY, "too many messages to this user for now"),
    # a token refused again after a fresh one was fetched: passing (two processes renewing at once)
    40001: (Outcome.RETRY, "access token refused"),
    40014: (Outcome.RETRY, "access token invalid"),
    42001: (Outcome.RETRY, "access token expired"),
    43004: (Outcome.FAILED, "the recipient does not follow the official account"),
    40003: (Outcome.FAILED, "not an openid of this official account"),
    40037: (Outcome.FAILED, "no such template"),
    47003: (Outcome.FAILED, "a template argument is invalid"),
    48001: (Outcome.FAILED, "the official account may not send template messages"),
}

#: errcodes of /cgi-bin/token that pass; any other (a wrong secret 40001/40125, a wrong app id 40013, this
#: server's address not on the account's whitelist 40164) stops every message until the settings are mended
TOKEN_FETCH_PASSING = frozenset({-1, 45009})


class TokenRefused(Exception):
    """WeChat would not give the account an access token."""

    def __init__(self, errcode: int | None, errmsg: str | None):
        super().__init__(f"{errcode} {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


class WeChatTemplateChannel:
    """Template messages to openids; one per process, safe to share between threads."""

    name = "wechat"

    def __init__(self, app_id: str, app_secret: str, templates: dict[str, str], *, api_base: str = PRODUCTION_API,
                 public_base_url: str = "", redis_client: Redis | None = None,
                 timeout: float | tuple[float, float] = TIMEOUT):
        self.templates = templates
        self.public_base_url = public_base_url.rstrip("/")
        if redis_client is None:
            storage, lock = _ProcessStorage(), _process_lock()
        else:
            storage = RedisStorage(redis_client, prefix="payfirst:wechat")
            lock = _redis_lock(redis_client, f"payfirst:wechat:{app_id}:token-lock", wait=_total(timeout))
        self.client = _Client(app_id, app_secret, api_base=api_base, storage=storage, lock=lock, timeout=timeout)

    def send(self, message: Message) -> Result:
        """Send one template message; what WeChat answers decides SENT, RETRY or FAILED."""
        configured = self.templates.get(message.event)
        if not configured:
            return Result.failed(f"no template for {message.event} (WECHAT_TEMPLATE_{message.event.upper()})")
        template, fields = template_fields(configured)
        body = {"touser": message.recipient, "template_id": template, "data": template_data(fields, message.params)}
        if message.link:
            body["url"] = self._absolute(message.link)
        if message.key:  # a digest: the same 32 characters however long our keys grow
            body["client_msg_id"] = hashlib.sha256(message.key.encode()).hexdigest()[:32]
        try:
            answer = self._deliver(body)
        except TokenRefused as exc:
            passing = exc.errcode is None or exc.errcode in TOKEN_FETCH_PASSING
            error = f"access token: {exc.errcode} {exc.errmsg}"
            return Result.retry(error) if passing else Result.failed(error)
        except WeChatClientException as exc:
            return result_of(exc.errcode, exc.errmsg)
        except requests.RequestException as exc:
            return Result.retry(f"network: {type(exc).__name__}: {exc}")
        except RedisError as exc:
            return Result.retry(f"redis: {type(exc).__name__}: {exc}")
        if not isinstance(answer, dict):
            return Result.retry("an answer that is not JSON")
        msgid = answer.get("msgid")
        return Result.sent(str(msgid) if msgid is not None else None)

    def _deliver(self, body: dict) -> dict:
        """Post once; when WeChat refuses the token, drop it, fetch another once and post once more."""
        try:
            return self._post(body)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_REJECTED:
                raise
            self.client.renew_token(rejected=_token_of(exc.request))
        return self._post(body)

    def _post(self, body: dict) -> dict:
        # The body wechatpy's message.send_template builds, plus client_msg_id, which it cannot pass.
        return self.client.post("message/template/send", data=body)

    def _absolute(self, link: str) -> str:
        """WeChat opens only whole URLs: a path of ours is put under PUBLIC_BASE_URL."""
        return self.public_base_url + link if link.startswith("/") and self.public_base_url else link


def template_fields(configured: str) -> tuple[str, dict[str, str]]:
    """A WECHAT_TEMPLATE_<EVENT> value as (template id, {template key: our param}).

    A template picked from WeChat's library has keys of its own (`thing1`, `amount2`, `time3`...), so the value
    may name which of the event's params fills each: `TEMPLATE_ID thing1=shop_name amount2=balance time3=at`.
    The id alone sends the params under their own names (a template whose keys were made to match them)."""
    template, *pairs = configured.split()
    fields = {}
    for pair in pairs:
        key, _, param = pair.partition("=")
        fields[key] = param or key
    return template, fields


def template_data(fields: dict[str, str], params: dict[str, str]) -> dict[str, dict[str, str]]:
    """The template's `data`: each key with its param's value (a param the event lacks is sent empty)."""
    if not fields:
        return {name: {"value": value} for name, value in params.items()}
    return {key: {"value": params.get(param, "")} for key, param in fields.items()}


def result_of(errcode: int | None, errmsg: str | None) -> Result:
    """The outcome of a refused send by `ERRCODES` (no errcode: an HTTP error, passing)."""
    outcome, meaning = ERRCODES.get(errcode, (Outcome.RETRY, ""))
    error = f"{errcode if errcode is not None else 'HTTP error'} {errmsg or ''}".strip()
    if meaning:
        error += f" ({meaning})"
    return Result(outcome, error=error)


def from_settings(settings: Settings, redis: Redis | None = None, *,
                  timeout: float | tuple[float, float] = TIMEOUT) -> WeChatTemplateChannel | None:
    """The channel of the configured official account, None without WECHAT_APP_ID and WECHAT_APP_SECRET.

    `redis` is the app's connection (portal.queue.dispatch.redis_connection()), which every process shares;
    without one (the demo, REDIS_URL unset) the token is kept in this process.
    """
    wechat = settings.wechat
    if not (wechat.app_id and wechat.app_secret):
        return None
    return WeChatTemplateChannel(wechat.app_id, wechat.app_secret, dict(wechat.templates),
                                 api_base=wechat.api_base or PRODUCTION_API,
                                 public_base_url=settings.core.public_base_url, redis_client=redis, timeout=timeout)


class _Client(WeChatClient):
    """wechatpy's official-account client on a base a stand-in can replace, with a timeout on every call, whose
    access token is read from the shared storage and fetched by one process at a time."""

    def __init__(self, app_id: str, secret: str, *, api_base: str, storage: SessionStorage,
                 lock: Callable[[], AbstractContextManager], timeout):
        # auto_retry off: wechatpy would refetch the token for as long as WeChat refuses it, without a lock
        super().__init__(app_id, secret, session=storage, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base.rstrip("/") + "/cgi-bin/"
        self._http = _Http(timeout)
        self._fetch_lock = lock

    @property
    def access_token(self) -> str:
        return self.session.get(self.access_token_key) or self.renew_token()

    def renew_token(self, rejected: str | None = None) -> str:
        """A token other than `rejected`: the one another process fetched meanwhile, or a fresh one."""
        with self._fetch_lock():
            token = self.session.get(self.access_token_key)
            if token and token != rejected:
                return token
            self.session.delete(self.access_token_key)
            self.fetch_access_token()
            return self.session.get(self.access_token_key)

    def fetch_access_token(self) -> dict:
        try:
            result = self._fetch_access_token(url=self.API_BASE_URL + "token", params={
                "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
        except WeChatClientException as exc:
            raise TokenRefused(exc.errcode, exc.errmsg) from exc
        lifetime = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], max(lifetime - EARLY_RENEWAL, 60))
        return result


class _Http(requests.Session):
    """wechatpy fetches the token without a timeout; every request of this session has one."""

    def __init__(self, timeout):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, *args, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class _ProcessStorage(SessionStorage):
    """The token in this process (the demo without Redis), forgotten when its time is up."""

    def __init__(self):
        self._data: dict[str, tuple[object, float]] = {}

    def get(self, key, default=None):
        value, until = self._data.get(key, (None, 0.0))
        return value if value is not None and time.monotonic() < until else default

    def set(self, key, value, ttl=None):
        if value is not None:
            self._data[key] = (value, time.monotonic() + ttl if ttl else math.inf)

    def delete(self, key):
        self._data.pop(key, None)


def _process_lock() -> Callable[[], AbstractContextManager]:
    lock = threading.Lock()
    return lambda: lock


def _redis_lock(client: Redis, name: str, wait: float) -> Callable[[], AbstractContextManager]:
    """A lock every process sees; waiting longer than a fetch may take raises LockError (a RedisError: RETRY)."""
    return lambda: client.lock(name, timeout=LOCK_HOLD, blocking_timeout=wait)


def _total(timeout: float | tuple[float, float]) -> float:
    return sum(timeout) if isinstance(timeout, tuple) else timeout


def _token_of(request) -> str | None:
    """The access token a refused request carried (in its query string), to drop that one and no newer."""
    url = getattr(request, "url", None)
    return parse_qs(urlsplit(url).query).get("access_token", [None])[0] if url else None
