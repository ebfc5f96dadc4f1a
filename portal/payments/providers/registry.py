"""The payment providers by channel: which platform takes an order's payment, and whether it is set up here.

Every channel (portal.models.Channel) has one provider: Alipay for alipay_wap and alipay_qr, WeChat Pay for
wechat_native and wechat_jsapi, the demo sandbox for sandbox. A provider whose settings are missing is
unavailable, with a message saying which variables to set; it never crashes the app.
"""
from __future__ import annotations

from portal.models import Channel, PaymentOrder
from portal.payments.providers.alipay.provider import AlipayProvider
from portal.payments.providers.base import ChannelUnavailable, PayData, Provider
from portal.payments.providers.sandbox import SandboxProvider
from portal.payments.providers.wechat.provider import WeChatProvider

__all__ = ["PROVIDERS", "ChannelUnavailable", "available", "bill_providers", "can_refund", "configured", "provider_for",
           "start_payment"]

_alipay, _wechat = AlipayProvider(), WeChatProvider()
#: the provider of each channel, by the channel's value
PROVIDERS: dict[str, Provider] = {
    Channel.ALIPAY_WAP.value: _alipay,
    Channel.ALIPAY_QR.value: _alipay,
    Channel.WECHAT_NATIVE.value: _wechat,
    Channel.WECHAT_JSAPI.value: _wechat,
    Channel.SANDBOX.value: SandboxProvider(),
}


def provider_for(channel: Channel | str) -> Provider:
    """The provider of a channel, configured or not; ChannelUnavailable for a channel nobody provides."""
    name = channel.value if isinstance(channel, Channel) else channel
    provider = PROVIDERS.get(name)
    if provider is None:
        raise ChannelUnavailable(f"channel {name} is not available in this installation")
    return provider


def configured(channel: Channel | str) -> Provider:
    """The provider of a channel that is set up here; ChannelUnavailable naming what to set otherwise."""
    provider = provider_for(channel)
    missing = provider.missing()
    if missing:
        name = channel.value if isinstance(channel, Channel) else channel
        raise ChannelUnavailable(f"channel {name} is not configured: set {', '.join(missing)}")
    return provider


def can_refund(channel: Channel | str) -> bool:
    """Whether payments of this channel can be sent back through their platform (configured or not)."""
    try:
        return provider_for(channel).can_refund
    except ChannelUnavailable:
        return False


def available() -> dict[str, list[str]]:
    """Every known channel and what it is missing (an empty list = ready)."""
    return {name: provider.missing() for name, provider in sorted(PROVIDERS.items())}


def start_payment(order: PaymentOrder, context: dict) -> PayData:
    """Ask the order's platform what the payer needs; ChannelUnavailable when it cannot."""
    return configured(order.channel).start(order, context)


def bill_providers() -> dict[str, Provider]:
    """The configured providers that keep a daily bill, by the bill's source (alipay, wechat)."""
    found: dict[str, Provider] = {}
    for provider in PROVIDERS.values():
        if provider.bill_source and provider.bill_source not in found and not provider.missing():
            found[provider.bill_source] = provider
    return found
