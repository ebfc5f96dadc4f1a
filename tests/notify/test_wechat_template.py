"""WeChat template messages against a local stand-in of the official account's API: what is sent, one access
token shared by every process through Redis, a refused token fetched again once, WeChat's errcodes as outcomes."""
from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from redis import Redis

from portal.notify.channels import wechat
from portal.notify.channels.base import Message, Outcome
from portal.queue.dispatch import connect_redis
from portal.settings import Settings
from tests.notify.wechat_mp_standin import OfficialAccountStandIn

pytestmark = pytest.mark.no_db

APPID = "wx0a1b2c3d4e5f6a7b"
SECRET = "mp-secret-0123456789abcdef"
OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
LOW = Message(event="low_balance_1", recipient=OPENID, text="余额不足",
              params={"first": "您的电费余额已低于一级预警", "keyword1": "A0101 一楼东铺", "keyword2": "¥12.34"},
              link="/t/a/1", key="low_balance_1:A0101:7:tenant-3:wechat")


@pytest.fixture
def account():
    """The official account's API, running on 127.0.0.1."""
    server = OfficialAccountStandIn(APPID, SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def settings(account):
    """settings(**variables): the settings read from an environment pointing at the stand-in (None drops one)."""

    def read(**variables: str | None) -> Settings:
        environ = {"DATABASE_URL": "postgresql://127.0.0.1/unused", "SECRET_KEY": "test",
                   "PUBLIC_BASE_URL": "https://pay.example.cn", "WECHAT_APP_ID": APPID, "WECHAT_APP_SECRET": SECRET,
                   "WECHAT_API_BASE": account.url, "WECHAT_TEMPLATE_LOW_BALANCE_1": "tpl-low-balance-1",
                   "WECHAT_TEMPLATE_SUPPLY_OFF": "tpl-supply-off", **variables}
        return Settings.from_env({name: value for name, value in environ.items() if value is not None})

    return read


@pytest.fixture
def shared_redis(redis_url):
    """process(): a Redis connection as another process opens it (the app's way); the token starts absent."""
    connections: list[Redis] = []

    def process() -> Redis:
        connections.append(connect_redis(redis_url))
        return connections[-1]

    for key in process().scan_iter("payfirst:wechat:*"):
        connections[0].delete(key)
    yield process
    for connection in connections:
        connection.close()


def test_a_message_goes_with_its_events_template_its_params_and_its_link(account, settings):
    channel = wechat.from_settings(settings())
    result = channel.send(LOW)
    assert result.outcome is Outcome.SENT
    [delivery] = account.delivered
    assert result.provider_id == str(delivery.msgid)
    assert delivery.openid == OPENID and delivery.template_id == "tpl-low-balance-1"
    assert delivery.data == {"first": {"value": "您的电费余额已低于一级预警"}, "keyword1": {"value": "A0101 一楼东铺"},
                             "keyword2": {"value": "¥12.34"}}
    assert delivery.url == "https://pay.example.cn/t/a/1"


def test_a_library_templates_keys_are_filled_from_the_params_the_setting_names(account, settings):
    channel = wechat.from_settings(settings(
        WECHAT_TEMPLATE_LOW_BALANCE_1="tpl-lib-7 thing1=shop_name amount2=balance character_string3=shop"))
    message = Message(event="low_balance_1", recipient=OPENID, text="",
                      params={"shop": "A0101", "shop_name": "一楼东铺", "balance": "12.34", "level": "20.00"})

    assert channel.send(message).outcome is Outcome.SENT

    [delivery] = account.delivered
    assert delivery.template_id == "tpl-lib-7"
    assert delivery.data == {"thing1": {"value": "一楼东铺"}, "amount2": {"value": "12.34"},
                             "character_string3": {"value": "A0101"}}


def test_a_whole_link_is_left_as_it_is(account, settings):
    message = Message(event="supply_off", recipient=OPENID, text="", params={"first": "已停电"},
                      link="https://other.example.cn/x")
    assert wechat.from_settings(settings()).send(message).outcome is Outcome.SENT
    assert account.delivered[0].url == "https://other.example.cn/x" and account.delivered[0].client_msg_id is None


def test_an_event_without_a_template_fails_without_a_request(account, settings):
    result = wechat.from_settings(settings()).send(Message(event="arrears_warning", recipient=OPENID, text=""))
    assert result.outcome is Outcome.FAILED and "WECHAT_TEMPLATE_ARREARS_WARNING" in result.error
    assert account.requests == []


def test_two_processes_with_one_redis_fetch_the_token_once(account, settings, shared_redis):
    web, worker = (wechat.from_settings(settings(), shared_redis()) for _ in range(2))
    results = [web.send(LOW), worker.send(LOW), web.send(LOW), worker.send(LOW)]
    assert [r.outcome for r in results] == [Outcome.SENT] * 4
    assert account.token_fetches == 1 and account.send_attempts == 4


def test_processes_racing_at_a_cold_start_fetch_the_token_once(account, settings, shared_redis):
    account.token_delay = 0.3  # a slow fetch: every process finds no token while the first is fetching
    channels = [wechat.from_settings(settings(), shared_redis()) for _ in range(6)]
    start = threading.Barrier(len(channels))

    def send(channel):
        start.wait()
        return channel.send(LOW)

    with ThreadPoolExecutor(len(channels)) as pool:
        results = list(pool.map(send, channels))
    assert [r.outcome for r in results] == [Outcome.SENT] * 6
    assert account.token_fetches == 1 and account.send_attempts == 6


def test_without_a_shared_store_processes_retire_each_others_tokens(account, settings):
    """Why the token lives in Redis: each process that fetches its own makes the other's token stale."""
    web, worker = wechat.from_settings(settings()), wechat.from_settings(settings())
    assert [web.send(LOW).outcome, worker.send(LOW).outcome, web.send(LOW).outcome] == [Outcome.SENT] * 3
    assert account.token_fetches == 3 and account.send_attempts == 4


def test_one_process_without_redis_keeps_its_token(account, settings):
    channel = wechat.from_settings(settings())
    assert [channel.send(LOW).outcome for _ in range(3)] == [Outcome.SENT] * 3
    assert account.token_fetches == 1


def test_the_token_is_kept_a_little_shorter_than_wechat_says(account, settings, shared_redis):
    connection = shared_redis()
    wechat.from_settings(settings(), connection).send(LOW)
    ttl = connection.ttl(f"payfirst:wechat:{APPID}_access_token")
    assert 7200 - wechat.EARLY_RENEWAL - 5 <= ttl <= 7200 - wechat.EARLY_RENEWAL


def test_an_expired_token_is_fetched_again_once_and_the_send_goes(account, settings, shared_redis):
    channel = wechat.from_settings(settings(), shared_redis())
    channel.send(LOW)
    account.expire_tokens()
    result = channel.send(replace(LOW, key="low_balance_1:A0101:8:tenant-3:wechat"))
    assert result.outcome is Outcome.SENT
    assert account.token_fetches == 2 and account.send_attempts == 3 and len(account.delivered) == 2


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_a_token_refused_again_after_a_fresh_one_is_retry_not_a_loop(account, settings, errcode):
    account.fail_next(errcode, errcode)
    result = wechat.from_settings(settings()).send(LOW)
    assert result.outcome is Outcome.RETRY and str(errcode) in result.error
    assert account.token_fetches == 2 and account.send_attempts == 2 and account.delivered == []


def test_a_token_another_process_renewed_is_used_not_fetched_again(account, settings, shared_redis):
    web, worker = (wechat.from_settings(settings(), shared_redis()) for _ in range(2))
    web.send(LOW)
    account.expire_tokens()
    stale = web.client.session.get(web.client.access_token_key)
    assert worker.send(LOW).outcome is Outcome.SENT  # the worker met the expiry and renewed it
    assert web.client.renew_token(rejected=stale) != stale  # the web's refused request drops nothing newer
    assert web.send(LOW).outcome is Outcome.SENT
    assert account.token_fetches == 2


@pytest.mark.parametrize("errcode, outcome", [
    (-1, Outcome.RETRY), (45009, Outcome.RETRY), (45047, Outcome.RETRY),
    (43004, Outcome.FAILED), (40003, Outcome.FAILED), (40037, Outcome.FAILED), (47003, Outcome.FAILED),
    (48001, Outcome.FAILED),
    (61999, Outcome.RETRY),  # not in the table: the caller's attempts bound it
])
def test_each_errcode_has_its_outcome(account, settings, errcode, outcome):
    account.fail_next(errcode)
    result = wechat.from_settings(settings()).send(LOW)
    assert result.outcome is outcome and result.error.startswith(f"{errcode} ")
    assert result.provider_id is None and account.delivered == []


def test_the_table_names_every_errcode_the_brief_maps():
    table = {code: outcome for code, (outcome, _meaning) in wechat.ERRCODES.items()}
    assert {c for c, o in table.items() if o is Outcome.FAILED} >= {43004, 40003, 40037, 47003}
    assert {c for c, o in table.items() if o is Outcome.RETRY} >= {-1, 45009, 45047}


def test_a_timeout_is_retry_and_the_retry_does_not_deliver_twice(account, settings):
    channel = wechat.from_settings(settings(), timeout=0.3)
    channel.send(LOW)  # the token, fetched before the API slows down
    account.delay = 1.0
    slow = channel.send(LOW)
    assert slow.outcome is Outcome.RETRY and "Timeout" in slow.error
    account.delay = 0
    again = channel.send(LOW)
    assert again.outcome is Outcome.SENT
    assert len(account.delivered) == 1 and again.provider_id == str(account.delivered[0].msgid)


def test_an_unreachable_api_is_retry(settings):
    with socket.socket() as placeholder:  # a port that was just free: nothing listens on it now
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    result = wechat.from_settings(settings(WECHAT_API_BASE=f"http://127.0.0.1:{port}"), timeout=1).send(LOW)
    assert result.outcome is Outcome.RETRY and result.error.startswith("network: ConnectionError")


def test_redis_unreachable_is_retry(account, settings):
    nowhere = connect_redis("redis://127.0.0.1:1/0")  # as the app connects, to a port nothing serves
    result = wechat.from_settings(settings(), nowhere).send(LOW)
    assert result.outcome is Outcome.RETRY and result.error.startswith("redis: ")
    assert account.requests == []


def test_a_wrong_secret_fails_without_sending(account, settings):
    result = wechat.from_settings(settings(WECHAT_APP_SECRET="not-the-secret")).send(LOW)
    assert result.outcome is Outcome.FAILED and "40125" in result.error
    assert account.send_attempts == 0


@pytest.mark.parametrize("missing", ["WECHAT_APP_ID", "WECHAT_APP_SECRET"])
def test_no_channel_without_the_official_accounts_id_and_secret(settings, missing):
    assert wechat.from_settings(settings(**{missing: None})) is None


def test_the_api_base_defaults_to_wechats(settings):
    channel = wechat.from_settings(settings(WECHAT_API_BASE=None))
    assert channel.client.API_BASE_URL == "https://api.weixin.qq.com/cgi-bin/"


def test_a_fetch_lock_held_too_long_is_retry_not_a_second_fetch(account, settings, shared_redis):
    """A process that died while fetching holds the lock until it times out; the others do not fetch meanwhile."""
    stuck = shared_redis().lock(f"payfirst:wechat:{APPID}:token-lock", timeout=30)
    assert stuck.acquire(blocking=False)
    result = wechat.from_settings(settings(), shared_redis(), timeout=0.2).send(LOW)
    stuck.release()
    assert result.outcome is Outcome.RETRY and "LockError" in result.error
    assert account.token_fetches == 0
