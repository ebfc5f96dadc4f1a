"""Texts through Aliyun SMS (阿里云短信服务, Dysmsapi 2017-05-25 `SendSms`), on its official SDK.

A message leaves as the template configured for its event (ALIYUN_SMS_TEMPLATE_<EVENT>) under the sign
ALIYUN_SMS_SIGN_NAME, its `params` as the template's variables (TemplateParam, JSON) and its `key` as OutId, which
comes back on Aliyun's delivery receipts. Aliyun accepts no free text: an event without a template fails at once,
without a request, so the caller falls back to a channel that sends `text`.

The SDK (alibabacloud-dysmsapi20170525 4.6 on alibabacloud-tea-openapi 0.4) signs every call in the V3 style,
ACS3-HMAC-SHA256 (the Authorization header over a canonical request of the query, the host and x-acs-* headers and
the body's SHA-256), not the older RPC HMAC-SHA1 `Signature` parameter; the parameters travel in the query string
of a POST. ALIYUN_SMS_ENDPOINT is a host (`dysmsapi.aliyuncs.com`, https) or a URL: `http://127.0.0.1:8123` is how
the tests point it at their stand-in. The SDK's own retries are left off: retries with backoff are the caller's.

How the service's answers are taken (RETRY: the same message may go later; FAILED: it never will this way, fall
back). Codes of neither list go by their family: `isp.*` (Aliyun's side), `Throttling*`, `ServiceUnavailable`
and `InternalError` are RETRY, anything else (`isv.*`: our request, our account) FAILED.

| code                              | outcome | why                                                               |
|-----------------------------------|---------|-------------------------------------------------------------------|
| OK                                | SENT    | accepted; BizId is the provider id (delivery receipts carry it)   |
| isv.BUSINESS_LIMIT_CONTROL        | RETRY   | the per-number minute/hour/day limit: later it goes               |
| Throttling.User, Throttling       | RETRY   | our account's request rate                                        |
| isp.SYSTEM_ERROR                  | RETRY   | Aliyun's passing trouble (also ServiceUnavailable, InternalError) |
| SignatureNonceUsed                | RETRY   | a nonce seen twice: the next try signs with a new one             |
| (no answer: refused, timeout)     | RETRY   | the network; a timed-out send may have gone: OutId ties the two   |
| isv.MOBILE_NUMBER_ILLEGAL         | FAILED  | not a mobile number Aliyun serves                                 |
| isv.TEMPLATE_MISSING_PARAMETERS   | FAILED  | the template names a variable the message lacks                   |
| isv.TEMPLATE_PARAMS_ILLEGAL       | FAILED  | a variable Aliyun refuses (a link, a blocked word)                |
| isv.SMS_TEMPLATE_ILLEGAL          | FAILED  | the template code is unknown or not approved                      |
| isv.SMS_SIGNATURE_ILLEGAL         | FAILED  | the sign name is unknown or not approved                          |
| isv.INVALID_PARAMETERS            | FAILED  | a malformed request                                               |
| isv.AMOUNT_NOT_ENOUGH             | FAILED  | the account is out of credit (see below)                          |
| isv.OUT_OF_SERVICE, isv.ACCOUNT_* | FAILED  | the account is suspended or closed                                |
| InvalidAccessKeyId.NotFound       | FAILED  | a wrong ALIYUN_SMS_ACCESS_KEY_ID                                  |
| SignatureDoesNotMatch             | FAILED  | a wrong ALIYUN_SMS_ACCESS_KEY_SECRET                              |
| InvalidTimeStamp.Expired          | FAILED  | this machine's clock is off: every retry is refused the same      |

isv.AMOUNT_NOT_ENOUGH is FAILED, not RETRY: topping the account up takes a person and hours, and retrying
meanwhile would hold back supply-off texts that the fallback channel (the modem, WeChat) can deliver now; the
delivery log shows the code to whoever tops it up.
"""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_dysmsapi20170525.models import SendSmsRequest
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.exceptions import ResponseException, UnretryableException

from portal.notify.channels.base import Message, Outcome, Result
from portal.settings import Settings, SmsSettings

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
#: milliseconds, as the SDK takes them: a send that takes longer is retried later (OutId ties a double)
CONNECT_TIMEOUT_MS = 3_000
READ_TIMEOUT_MS = 8_000

#: the service's answer codes whose outcome is not their family's (see the table above)
RETRY_CODES = frozenset({
    "isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "isp.SYSTEM_ERROR", "ServiceUnavailable",
    "InternalError", "SignatureNonceUsed",
})
FAILED_CODES = frozenset({
    "isv.MOBILE_NUMBER_ILLEGAL", "isv.TEMPLATE_MISSING_PARAMETERS", "isv.TEMPLATE_PARAMS_ILLEGAL",
    "isv.SMS_TEMPLATE_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL", "isv.INVALID_PARAMETERS", "isv.AMOUNT_NOT_ENOUGH",
    "isv.OUT_OF_SERVICE", "isv.ACCOUNT_NOT_EXISTS", "isv.ACCOUNT_ABNORMAL", "InvalidAccessKeyId.NotFound",
    "SignatureDoesNotMatch", "InvalidTimeStamp.Expired",
})
_RETRY_FAMILIES = ("isp.", "Throttling", "ServiceUnavailable", "InternalError")


def outcome_of(code: str) -> Outcome:
    """What an answer code of SendSms comes to (the module's table)."""
    if code == "OK":
        return Outcome.SENT
    if code in RETRY_CODES:
        return Outcome.RETRY
    if code in FAILED_CODES:
        return Outcome.FAILED
    return Outcome.RETRY if code.startswith(_RETRY_FAMILIES) else Outcome.FAILED


#: characters of the service's words kept for the delivery log (a refused signature quotes its whole request)
ERROR_CHARS = 400


def _answer(code: str, text: str, request_id: str | None = None) -> Result:
    error = (f"{code}: {text}" + (f" (request {request_id})" if request_id else ""))[:ERROR_CHARS]
    return Result.retry(error) if outcome_of(code) is Outcome.RETRY else Result.failed(error)


class AliyunSmsChannel:
    """Sends a message as its event's SMS template through one SDK client, kept for the process's life."""

    name = "aliyun"

    def __init__(self, client: Client, sign_name: str, templates: Mapping[str, str]):
        self._client = client
        self.sign_name = sign_name
        #: template codes by event name (lower case, as SmsSettings keeps them)
        self.templates = {event.lower(): code for event, code in templates.items()}

    @classmethod
    def connect(cls, access_key_id: str, access_key_secret: str, sign_name: str, templates: Mapping[str, str],
                endpoint: str | None = None, *, connect_timeout_ms: int = CONNECT_TIMEOUT_MS,
                read_timeout_ms: int = READ_TIMEOUT_MS) -> AliyunSmsChannel:
        """The channel on a new SDK client for `endpoint` (a host for https, or an http(s):// URL)."""
        protocol, host = _endpoint(endpoint or DEFAULT_ENDPOINT)
        config = Config(access_key_id=access_key_id, access_key_secret=access_key_secret, endpoint=host,
                        protocol=protocol, connect_timeout=connect_timeout_ms, read_timeout=read_timeout_ms)
        return cls(Client(config), sign_name, templates)

    def send(self, message: Message) -> Result:
        """SendSms with the event's template; the service's answer as SENT, RETRY or FAILED."""
        template = self.templates.get(message.event.lower())
        if not template:
            return Result.failed(f"no Aliyun SMS template for the event {message.event!r} "
                                 f"(ALIYUN_SMS_TEMPLATE_{message.event.upper()} is not set)")
        request = SendSmsRequest(
            phone_numbers=message.recipient, sign_name=self.sign_name, template_code=template,
            # the variables as written (Chinese stays Chinese): the template's text is what counts toward length
            template_param=json.dumps(message.params, ensure_ascii=False) if message.params else None,
            out_id=message.key or None)
        try:
            body = self._client.send_sms(request).body
        except ResponseException as exc:  # an HTTP 4xx/5xx answer: a bad key or signature, throttling, an outage
            # the SDK's message already names the HTTP status and the request id
            if exc.code in (None, "", "None"):  # not the service's JSON (a proxy's error page): 5xx passes
                failure = Result.retry if (exc.status_code or 500) >= 500 else Result.failed
                return failure(f"HTTP {exc.status_code}: {exc.message}"[:ERROR_CHARS])
            return _answer(str(exc.code), str(exc.message))
        except UnretryableException as exc:  # no answer: refused, reset, timed out, or not JSON
            return Result.retry(f"Aliyun SMS not reached: {exc.inner_exception or exc}"[:ERROR_CHARS])
        if body is None or not body.code:
            return Result.retry("Aliyun SMS answered without a code")
        if body.code == "OK":
            return Result.sent(body.biz_id)
        return _answer(body.code, body.message or "", body.request_id)


def _endpoint(value: str) -> tuple[str, str]:
    """(protocol, host[:port]) of ALIYUN_SMS_ENDPOINT: a bare host is https."""
    if "://" not in value:
        return "https", value.strip().rstrip("/")
    url = urlsplit(value.strip())
    if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
        raise ValueError(f"ALIYUN_SMS_ENDPOINT is a host or an http(s)://host[:port] URL, got {value!r}")
    return url.scheme, url.netloc


def from_settings(settings: Settings | SmsSettings) -> AliyunSmsChannel | None:
    """The process's Aliyun channel, or None (with a warning in the log) while its keys or sign are not set."""
    sms = settings.sms if isinstance(settings, Settings) else settings
    return _channel(sms)


@functools.lru_cache(maxsize=4)
def _channel(sms: SmsSettings) -> AliyunSmsChannel | None:
    # One SDK client per distinct settings: it keeps its HTTP connections between sends.
    missing = [name for name, value in (("ALIYUN_SMS_ACCESS_KEY_ID", sms.aliyun_access_key_id),
                                        ("ALIYUN_SMS_ACCESS_KEY_SECRET", sms.aliyun_access_key_secret),
                                        ("ALIYUN_SMS_SIGN_NAME", sms.aliyun_sign_name)) if not value]
    if missing:
        log.warning("Aliyun SMS is off: %s not set", ", ".join(missing))
        return None
    return AliyunSmsChannel.connect(sms.aliyun_access_key_id, sms.aliyun_access_key_secret, sms.aliyun_sign_name,
                                    dict(sms.aliyun_templates), sms.aliyun_endpoint)
