"""The one interface every channel implements, and what a send can come to.

A channel sends one `Message` and answers with a `Result`: SENT (with the provider's id for the message), RETRY
(a passing failure: throttled, timed out, the network or the modem busy — the caller tries again later, with
backoff) or FAILED (it will never go this way: a bad number, an unknown template, a recipient who blocked us —
the caller falls back to another channel or gives up). A channel never raises for what its provider answers;
an exception out of `send` is a bug, and the caller treats it as RETRY.

Channels know nothing of shops, preferences or the delivery log: routing, dedupe, quiet hours, retries and the
log are the caller's. A channel is made once per process from the settings (portal.settings) and may keep
what it needs between sends (a connection, an access token, an open serial port).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Outcome(str, enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Message:
    """One message to one recipient.

    `event` names what happened (e.g. `low_balance_1`, `supply_off`, `payment_credited`): a channel with
    templates picks the template configured for it (WECHAT_TEMPLATE_<EVENT>, ALIYUN_SMS_TEMPLATE_<EVENT>) and
    fills it with `params` (strings, as the template's variables name them); a channel without templates (the
    modem, the log) sends `text`, the message already written out in the recipient's language. `link` is a page
    of ours the message leads to (a WeChat template message opens it). `key` identifies this delivery (one event,
    one crossing, one recipient, one channel): a provider that accepts an idempotency token gets it.
    """

    event: str
    recipient: str
    text: str
    params: dict[str, str] = field(default_factory=dict)
    link: str | None = None
    key: str = ""


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    #: the provider's id of the message (Aliyun's BizId, WeChat's msgid, the modem's message references)
    provider_id: str | None = None
    #: what went wrong, in words for the delivery log (the provider's code and message)
    error: str = ""

    @classmethod
    def sent(cls, provider_id: str | None = None) -> Result:
        return cls(Outcome.SENT, provider_id)

    @classmethod
    def retry(cls, error: str) -> Result:
        return cls(Outcome.RETRY, error=error)

    @classmethod
    def failed(cls, error: str) -> Result:
        return cls(Outcome.FAILED, error=error)


class Channel(Protocol):
    """A way out: `name` is what the delivery log and the settings call it (wechat, aliyun, modem, log)."""

    name: str

    def send(self, message: Message) -> Result:
        ...
