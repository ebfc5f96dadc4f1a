"""The provider registry: one provider per channel, the protocol's methods, and the sandbox's typed "nothing"."""
from __future__ import annotations

from datetime import date

import pytest

from portal.extensions import db
from portal.models import Channel, OrderStatus, RefundStatus
from portal.payments import refunds
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.providers.base import RefundAnswer
from portal.payments.providers.registry import (
    PROVIDERS,
    ChannelUnavailable,
    available,
    bill_providers,
    configured,
    provider_for,
)
from tests.payments.wechat_fixtures import no_wechat

PROTOCOL = ("missing", "start", "query", "close", "refund", "download_bill")


def test_every_channel_has_one_provider_with_the_whole_protocol():
    assert set(PROVIDERS) == {channel.value for channel in Channel}
    for channel in Channel:
        provider = provider_for(channel)
        assert provider is provider_for(channel.value)
        assert all(callable(getattr(provider, name)) for name in PROTOCOL) and hasattr(provider, "bill_source")
    assert provider_for(Channel.ALIPAY_WAP) is provider_for(Channel.ALIPAY_QR)
    assert provider_for(Channel.WECHAT_NATIVE) is provider_for(Channel.WECHAT_JSAPI)


def test_a_channel_nobody_provides_is_unavailable():
    with pytest.raises(ChannelUnavailable, match="not available"):
        provider_for("bitcoin")


def test_an_unconfigured_channel_names_what_to_set(no_alipay):
    with pytest.raises(ChannelUnavailable, match="ALIPAY_APP_ID"):
        configured(Channel.ALIPAY_QR)


def test_the_sandbox_says_it_has_no_platform_in_the_protocols_own_types(make_order):
    sandbox = provider_for(Channel.SANDBOX)
    assert sandbox.query("PF1") is None
    assert sandbox.close("PF1") is True
    assert sandbox.refund(make_order(1000, Channel.SANDBOX), "RF1", 1000, "r") == RefundAnswer(
        False, "the sandbox cannot refund")
    assert (sandbox.download_bill(date(2026, 1, 1)), sandbox.bill_source) == ([], None)


def test_a_refund_of_a_sandbox_payment_is_refused_before_anyone_approves_it(sandbox_on, make_account, make_order):
    account = make_account(balance_fen=5_000)
    order = make_order(1000, Channel.SANDBOX, account=account)
    accept_payment(db.session, VerifiedPayment("alipay", order.out_trade_no, "T-box", 1000, True))
    db.session.commit()
    db.session.refresh(order)
    assert order.status == OrderStatus.CREDITED
    with pytest.raises(refunds.RefundRefused) as refused:
        refunds.request_refund(db.session, order, 1000, "moved out", "staff:c")
    assert str(refused.value) == str(refunds.NO_REFUNDS)  # words for the staff member, not the sandbox's English


def test_no_bill_is_fetched_from_a_platform_not_configured_here(no_alipay, no_wechat):
    assert bill_providers() == {}


def test_bills_come_from_the_configured_platforms(no_wechat, alipay_env):
    assert bill_providers() == {"alipay": provider_for(Channel.ALIPAY_WAP)}


def test_settings_are_read_once_when_the_app_is_made(no_alipay, monkeypatch, tmp_path):
    """The review found ten modules reading the environment as they ran: a variable set later changed nothing
    only where it happened to be read at import. Now nothing does: the app keeps what it read at start-up."""
    key = tmp_path / "key.pem"
    key.write_text("not read")
    for name in ("ALIPAY_APP_PRIVATE_KEY_FILE", "ALIPAY_PUBLIC_KEY_FILE"):
        monkeypatch.setenv(name, str(key))
    monkeypatch.setenv("ALIPAY_APP_ID", "2021000000000000")
    assert available()["alipay_wap"] == ["ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY_FILE", "ALIPAY_PUBLIC_KEY_FILE"]
