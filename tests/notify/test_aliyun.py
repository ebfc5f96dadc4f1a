"""The Aliyun SMS channel through the official SDK against the local stand-in, which checks its signatures."""
from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from portal.notify.channels import aliyun
from portal.notify.channels.aliyun import AliyunSmsChannel, from_settings, outcome_of
from portal.notify.channels.base import Message, Outcome
from portal.settings import Settings, SmsSettings
from tests.notify.aliyun_standin import AliyunSmsStandIn

pytestmark = pytest.mark.no_db

KEY_ID, SECRET = "LTAI5tPayFirstTest01", "a-secret-known-to-both-ends"
SIGN = "先付"
TEMPLATES = {
    "SMS_480100001": "尊敬的用户，您的商铺${shop}余额为${balance}元，已低于一级预警，请及时充值。",
    "SMS_480100009": "您的商铺已恢复供电。",
}
EVENTS = {"low_balance_1": "SMS_480100001", "supply_restored": "SMS_480100009", "supply_off": "SMS_480100404"}


@pytest.fixture
def standin():
    with AliyunSmsStandIn(KEY_ID, SECRET, {SIGN}, TEMPLATES) as server:
        yield server


def connect(endpoint: str, secret: str = SECRET, key_id: str = KEY_ID, **timeouts) -> AliyunSmsChannel:
    return AliyunSmsChannel.connect(key_id, secret, SIGN, EVENTS, endpoint, **timeouts)


@pytest.fixture
def channel(standin):
    return connect(standin.endpoint, read_timeout_ms=2_000)


def low_balance(recipient: str = "13900000001", **params) -> Message:
    return Message("low_balance_1", recipient, "余额不足", {"shop": "一楼 A-101", "balance": "12.30", **params},
                   key="low_balance_1:42:3:sms")


def test_a_message_goes_as_its_events_template_with_its_params_and_key(channel, standin):
    result = channel.send(low_balance())

    assert result.outcome is Outcome.SENT
    [sent] = standin.accepted
    assert result.provider_id == sent.biz_id
    assert (sent.phone, sent.sign, sent.template, sent.out_id) == (
        "13900000001", "先付", "SMS_480100001", "low_balance_1:42:3:sms")
    assert sent.params == {"shop": "一楼 A-101", "balance": "12.30"}


def test_chinese_and_reserved_characters_survive_the_signature_and_the_json(channel, standin):
    shop = "二楼 B-7 号（奶茶&小吃）+ 100% = ~满意~"
    assert channel.send(low_balance(shop=shop)).outcome is Outcome.SENT

    [sent] = standin.accepted
    assert sent.params["shop"] == shop
    assert sent.text == f"【先付】尊敬的用户，您的商铺{shop}余额为12.30元，已低于一级预警，请及时充值。"


def test_a_template_without_variables_sends_no_params(channel, standin):
    restored = Message("supply_restored", "+8613900000002", "已恢复供电", key="k")
    assert channel.send(restored).outcome is Outcome.SENT
    query = standin.requests[-1][2]
    assert "TemplateParam" not in dict(query)
    assert standin.accepted[0].text == "【先付】您的商铺已恢复供电。"


def test_no_template_for_the_event_fails_without_a_request(channel, standin):
    result = channel.send(Message("arrears_warning", "13900000001", "欠费", {"amount": "5.00"}))

    assert result.outcome is Outcome.FAILED
    assert "ALIYUN_SMS_TEMPLATE_ARREARS_WARNING" in result.error
    assert standin.requests == []


# --- the service's own answers, as the stand-in decides them ------------------------------------------------


def test_a_number_over_its_limit_is_throttled_and_retried(standin, channel):
    standin.limit_per_number = 1
    assert channel.send(low_balance()).outcome is Outcome.SENT

    again = channel.send(low_balance())

    assert again.outcome is Outcome.RETRY
    assert again.error.startswith("isv.BUSINESS_LIMIT_CONTROL")
    assert channel.send(low_balance("13900000003")).outcome is Outcome.SENT  # another number still goes


def test_a_template_the_service_does_not_know_fails(channel, standin):
    result = channel.send(Message("supply_off", "13900000001", "已停电", {"reason": "欠费"}))

    assert result.outcome is Outcome.FAILED
    assert result.error.startswith("isv.SMS_TEMPLATE_ILLEGAL")
    assert standin.accepted == []


@pytest.mark.parametrize("number", ["1390000000", "23900000001", "139-0000-0001", "10086"])
def test_a_bad_number_fails(channel, standin, number):
    result = channel.send(low_balance(number))

    assert result.outcome is Outcome.FAILED
    assert result.error.startswith("isv.MOBILE_NUMBER_ILLEGAL")


def test_a_missing_template_variable_fails(channel, standin):
    message = Message("low_balance_1", "13900000001", "余额不足", {"shop": "A-101"})
    result = channel.send(message)

    assert result.outcome is Outcome.FAILED
    assert result.error.startswith("isv.TEMPLATE_MISSING_PARAMETERS")


def test_a_sign_the_service_does_not_know_fails(standin):
    stranger = AliyunSmsChannel.connect(KEY_ID, SECRET, "别家", EVENTS, standin.endpoint)
    assert stranger.send(low_balance()).error.startswith("isv.SMS_SIGNATURE_ILLEGAL")


ANSWERS = [
    ("isv.BUSINESS_LIMIT_CONTROL", 200, Outcome.RETRY),
    ("Throttling.User", 400, Outcome.RETRY),
    ("isp.SYSTEM_ERROR", 200, Outcome.RETRY),
    ("ServiceUnavailable", 503, Outcome.RETRY),
    ("InternalError", 500, Outcome.RETRY),
    ("isp.SOMETHING_NEW", 200, Outcome.RETRY),
    ("isv.MOBILE_NUMBER_ILLEGAL", 200, Outcome.FAILED),
    ("isv.TEMPLATE_MISSING_PARAMETERS", 200, Outcome.FAILED),
    ("isv.SMS_TEMPLATE_ILLEGAL", 200, Outcome.FAILED),
    ("isv.SMS_SIGNATURE_ILLEGAL", 200, Outcome.FAILED),
    ("isv.INVALID_PARAMETERS", 200, Outcome.FAILED),
    ("isv.AMOUNT_NOT_ENOUGH", 200, Outcome.FAILED),
    ("isv.OUT_OF_SERVICE", 200, Outcome.FAILED),
    ("isv.SOMETHING_NEW", 200, Outcome.FAILED),
    ("InvalidAccessKeyId.NotFound", 404, Outcome.FAILED),
    ("SignatureDoesNotMatch", 400, Outcome.FAILED),
    ("InvalidTimeStamp.Expired", 400, Outcome.FAILED),
]


@pytest.mark.parametrize("code, status, outcome", ANSWERS)
def test_each_answer_comes_to_its_outcome(channel, standin, code, status, outcome):
    standin.fail_next(code, "的说明", status)

    result = channel.send(low_balance())

    assert result.outcome is outcome
    assert result.error.startswith(code)
    assert outcome_of(code) is outcome


@pytest.mark.parametrize("status, outcome", [(502, Outcome.RETRY), (403, Outcome.FAILED)])
def test_an_error_without_a_code_goes_by_its_http_status(channel, standin, status, outcome):
    standin.fail_next("", "Bad Gateway", status)

    result = channel.send(low_balance())

    assert result.outcome is outcome
    assert result.error.startswith(f"HTTP {status}")


def test_ok_is_sent():
    assert outcome_of("OK") is Outcome.SENT


# --- the signature ------------------------------------------------------------------------------------------


def test_a_wrong_secret_is_refused_by_the_standins_own_check(standin):
    result = connect(standin.endpoint, secret="not-the-secret").send(low_balance())

    assert result.outcome is Outcome.FAILED
    assert result.error.startswith("SignatureDoesNotMatch")
    assert standin.answers == ["SignatureDoesNotMatch"]
    assert standin.accepted == []


def test_the_check_covers_every_parameter_and_refuses_a_replay(channel, standin):
    assert channel.send(low_balance()).outcome is Outcome.SENT
    method, path, query, headers, body = standin.requests[-1]

    # the same signed request with the number changed (a fresh nonce, so only the signature can refuse it)
    tampered = [(k, "13900000666" if k == "PhoneNumbers" else v) for k, v in query]
    assert standin.check(method, path, tampered, {**headers, "x-acs-signature-nonce": "n2"}, body)[1]["Code"] == (
        "SignatureDoesNotMatch")
    # a signed header changed
    assert standin.check(method, path, query, {**headers, "x-acs-action": "SendBatchSms"}, body)[1]["Code"] == (
        "SignatureDoesNotMatch")
    # the very same request again
    status, answer = standin.check(method, path, query, headers, body)
    assert (status, answer["Code"]) == (400, "SignatureNonceUsed")
    assert len(standin.accepted) == 1


def test_an_unknown_access_key_is_not_found(standin):
    result = connect(standin.endpoint, key_id="LTAI5tSomebodyElse").send(low_balance())

    assert result.outcome is Outcome.FAILED
    assert result.error.startswith("InvalidAccessKeyId.NotFound")


# --- no answer -----------------------------------------------------------------------------------------------


def test_a_service_that_does_not_answer_in_time_is_retried(standin):
    standin.delay = 1.5
    slow = connect(standin.endpoint, read_timeout_ms=300)

    started = time.monotonic()
    result = slow.send(low_balance())

    assert result.outcome is Outcome.RETRY
    assert time.monotonic() - started < 1.4
    assert "not reached" in result.error


def test_a_refused_connection_is_retried():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = connect(f"http://127.0.0.1:{port}", connect_timeout_ms=500).send(low_balance())

    assert result.outcome is Outcome.RETRY
    assert "not reached" in result.error


def test_a_service_that_went_away_is_retried(standin, channel):
    assert channel.send(low_balance()).outcome is Outcome.SENT
    standin.stop()

    assert channel.send(low_balance()).outcome is Outcome.RETRY


# --- made from the settings ----------------------------------------------------------------------------------


def sms_settings(**values) -> SmsSettings:
    base = dict(backends=("aliyun",), aliyun_access_key_id=KEY_ID, aliyun_access_key_secret=SECRET,
                aliyun_sign_name=SIGN, aliyun_templates=tuple(sorted(EVENTS.items())))
    return SmsSettings(**{**base, **values})


@pytest.mark.parametrize("missing", ["aliyun_access_key_id", "aliyun_access_key_secret", "aliyun_sign_name"])
def test_without_keys_or_sign_there_is_no_channel(missing, caplog):
    aliyun._channel.cache_clear()  # the warning is logged when the channel is made, once per process
    assert from_settings(sms_settings(**{missing: None})) is None
    assert "Aliyun SMS is off" in caplog.text


def test_the_settings_make_one_channel_per_process(standin):
    settings = sms_settings(aliyun_endpoint=standin.endpoint)
    first = from_settings(settings)

    assert from_settings(dataclasses.replace(settings)) is first
    assert first.send(low_balance()).outcome is Outcome.SENT


def test_the_channel_reads_the_environment_as_spec_names_it(standin):
    env = {"DATABASE_URL": "postgresql://x@127.0.0.1/x", "SECRET_KEY": "s", "SMS_BACKEND": "aliyun",
           "ALIYUN_SMS_ACCESS_KEY_ID": KEY_ID, "ALIYUN_SMS_ACCESS_KEY_SECRET": SECRET, "ALIYUN_SMS_SIGN_NAME": SIGN,
           "ALIYUN_SMS_TEMPLATE_LOW_BALANCE_1": "SMS_480100001", "ALIYUN_SMS_ENDPOINT": standin.endpoint}
    channel = from_settings(Settings.from_env(env))

    assert channel.send(low_balance()).outcome is Outcome.SENT
    assert standin.accepted[0].template == "SMS_480100001"


def test_the_endpoint_is_production_by_default_over_https():
    assert aliyun._endpoint(aliyun.DEFAULT_ENDPOINT) == ("https", "dysmsapi.aliyuncs.com")
    client = connect(None)._client
    assert (client._endpoint, client._protocol) == ("dysmsapi.aliyuncs.com", "https")


@pytest.mark.parametrize("value, expected", [
    ("dysmsapi.aliyuncs.com", ("https", "dysmsapi.aliyuncs.com")),
    ("http://127.0.0.1:8123", ("http", "127.0.0.1:8123")),
    ("https://dysmsapi-vpc.cn-hangzhou.aliyuncs.com/", ("https", "dysmsapi-vpc.cn-hangzhou.aliyuncs.com")),
])
def test_an_endpoint_is_a_host_or_a_url(value, expected):
    assert aliyun._endpoint(value) == expected


@pytest.mark.parametrize("value", ["ftp://host", "http://", "http://host/some/path"])
def test_a_malformed_endpoint_is_named(value):
    with pytest.raises(ValueError, match="ALIYUN_SMS_ENDPOINT"):
        aliyun._endpoint(value)
