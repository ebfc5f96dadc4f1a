"""The payment channels: each registers how to start a payment for an order.

A starter takes the order and a context (return_url, openid, client_ip...) and returns the channel
data the payer needs (pay_url, qr_code, code_url, jsapi_params). A channel whose settings are missing
is unavailable, with a message saying which variables to set; it never crashes the app.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from portal.models import PaymentOrder


class ChannelUnavailable(Exception):
    """The channel is not configured here, or the platform refused to start the payment."""


@dataclass(frozen=True)
class Channel:
    """One way to pay: a starter, and a check that says whether it is configured."""

    name: str
    start: Callable[[PaymentOrder, dict], dict]
    missing: Callable[[], list[str]]


CHANNELS: dict[str, Channel] = {}


def register(name: str, missing: Callable[[], list[str]]):
    """Decorator: register `func(order, context) -> dict` as the starter of channel `name`."""

    def decorate(func):
        CHANNELS[name] = Channel(name, func, missing)
        return func

    return decorate


def _load() -> None:
    # Channel modules register themselves on import; they are optional until configured.
    from importlib import import_module

    for module in ("portal.payments.providers.alipay", "portal.payments.providers.wechat.v2", "portal.payments.providers.wechat.v3",
                   "portal.payments.providers.sandbox"):
        try:
            import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def available() -> dict[str, list[str]]:
    """Every known channel and what it is missing (an empty list = ready)."""
    _load()
    return {name: ch.missing() for name, ch in sorted(CHANNELS.items())}


def start_payment(order: PaymentOrder, context: dict) -> dict:
    """Ask the order's platform for pay data; ChannelUnavailable when it cannot."""
    _load()
    channel = CHANNELS.get(order.channel.value)
    if channel is None:
        raise ChannelUnavailable(f"channel {order.channel.value} is not available in this installation")
    missing = channel.missing()
    if missing:
        raise ChannelUnavailable(f"channel {order.channel.value} is not configured: set {', '.join(missing)}")
    return channel.start(order, context)
