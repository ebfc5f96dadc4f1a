"""Logins that can't be guessed: the same work for a missing user as for a wrong password (counted, and timed as
distributions), rate limits per address, per account and per account+address with a backoff, the client's
address only from trusted proxies, and the tenants' account code + phone kept to the embedded demo."""
from __future__ import annotations

import statistics
import time

import pytest
import werkzeug.security
from flask import request

from portal.extensions import limiter
from portal.settings import Settings
from tests.factories import PASSWORD

ATTACKER, OFFICE = "203.0.113.7", "198.51.100.20"


def try_login(client, username: str, password: str, address: str = ATTACKER, **headers):
    return client.post("/auth/staff/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


# --- no timing tells ----------------------------------------------------------------------------------

@pytest.fixture
def hashes(monkeypatch):
    """How many password hashes a request computed."""
    counted = []
    real = werkzeug.security._hash_internal

    def counting(*args, **kwargs):
        counted.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(werkzeug.security, "_hash_internal", counting)
    return counted


@pytest.mark.parametrize("who", ["missing", "wrong password", "inactive"])
def test_every_failed_login_costs_exactly_one_password_hash(client, make_staff, hashes, who):
    make_staff("li")
    make_staff("gone", active=False)
    username, password = {"missing": ("nobody", PASSWORD), "wrong password": ("li", "guess"),
                          "inactive": ("gone", PASSWORD)}[who]
    client.get("/auth/staff/login")
    hashes.clear()
    assert try_login(client, username, password).status_code == 200
    assert len(hashes) == 1


@pytest.mark.slow
def test_a_missing_user_and_a_wrong_password_take_alike_long(client, make_staff):
    """The review told users apart by time: 6-21 ms for a missing one, 104-219 ms for a real one. Compare the
    two distributions, taken interleaved so that both meet the same load: their medians are within 1.5x of
    each other, and each median lies inside the other's range."""
    make_staff("li")
    samples: dict[str, list[float]] = {"li": [], "nobody": []}
    for _ in range(20):
        for username in samples:
            start = time.perf_counter()
            try_login(client, username, "a wrong guess")
            samples[username].append(time.perf_counter() - start)
    real, missing = (statistics.median(samples[name]) for name in ("li", "nobody"))
    assert max(real, missing) / min(real, missing) < 1.5, samples
    assert min(samples["nobody"]) <= real <= max(samples["nobody"]), samples
    assert min(samples["li"]) <= missing <= max(samples["li"]), samples


# --- rate limits --------------------------------------------------------------------------------------

@pytest.fixture
def limited(second_app):
    """A second app on the same database with the rate limits on, in memory, as the demo keeps them."""
    limited_app = second_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    limiter.reset()
    yield limited_app
    limiter.reset()
    limiter.enabled = False  # the suite's app runs without limits (it logs in hundreds of times a minute)


def test_five_wrong_passwords_from_one_address_hold_that_address_back(limited, make_staff):
    make_staff("li")
    client = limited.test_client()
    for _ in range(5):
        assert try_login(client, "li", "guess").status_code == 200
    refused = try_login(client, "li", PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_the_real_user_at_their_own_desk_is_not_locked_out(limited, make_staff):
    make_staff("li")
    attacker, desk = limited.test_client(), limited.test_client()
    for _ in range(6):
        try_login(attacker, "li", "guess")
    assert try_login(attacker, "li", "guess").status_code == 429
    assert try_login(desk, "li", PASSWORD, address=OFFICE).status_code == 302


def test_the_account_limit_counts_by_account_whatever_the_case(limited, make_staff):
    make_staff("li")
    client = limited.test_client()
    for name in ("li", "LI", "Li ", "lI", "li"):
        try_login(client, name, "guess")
    assert try_login(client, "li", PASSWORD).status_code == 429


def test_successful_logins_do_not_count_against_the_account(limited, make_staff):
    make_staff("li")
    client = limited.test_client()
    for _ in range(8):
        assert try_login(client, "li", PASSWORD).status_code == 302


def test_one_address_trying_many_accounts_is_held_back(limited):
    client = limited.test_client()
    answers = [try_login(client, f"user{n}", "guess").status_code for n in range(31)]
    assert answers[:30] == [200] * 30 and answers[30] == 429


def test_an_address_that_keeps_coming_back_is_shut_out_of_that_account_for_the_day(limited, make_staff,
                                                                                  monkeypatch):
    import limits.storage.memory as memory

    make_staff("li")
    now = [time.time()]
    monkeypatch.setattr(memory.time, "time", lambda: now[0])
    client = limited.test_client()
    for _ in range(3):  # three times it runs into the limit, waiting out each window
        for _ in range(5):
            try_login(client, "li", "guess")
        assert try_login(client, "li", "guess").status_code == 429
        now[0] += 16 * 60
    assert try_login(client, "li", PASSWORD).status_code == 429  # the backoff: not today, from this address
    assert try_login(limited.test_client(), "li", PASSWORD, address=OFFICE).status_code == 302


def test_a_forged_forwarded_for_does_not_change_the_address_without_a_trusted_proxy(limited):
    client = limited.test_client()
    answers = [try_login(client, f"user{n}", "guess", **{"X-Forwarded-For": f"10.0.0.{n}"}).status_code
               for n in range(31)]
    assert answers[30] == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(second_app, monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", "1")
    proxied = second_app()
    seen = []
    proxied.before_request(lambda: seen.append(request.remote_addr))
    proxied.test_client().get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                              headers={"X-Forwarded-For": "203.0.113.9"})
    assert seen == ["203.0.113.9"]


def test_proxy_hops_are_a_setting_with_a_sane_range():
    assert Settings.from_env({"SECRET_KEY": "x"}).auth.proxy_hops == 0
    assert Settings.from_env({"SECRET_KEY": "x", "TRUSTED_PROXY_HOPS": "2"}).auth.proxy_hops == 2
    with pytest.raises(Exception, match="TRUSTED_PROXY_HOPS"):
        Settings.from_env({"SECRET_KEY": "x", "TRUSTED_PROXY_HOPS": "9"})


# --- tenants: account code + phone is the embedded demo's only ---------------------------------------------

def test_account_code_and_phone_signs_in_only_in_the_embedded_demo():
    postgres = {"SECRET_KEY": "x", "DATABASE_URL": "postgresql://db/payfirst"}
    assert Settings.from_env(postgres).auth.tenant_demo_login is False
    assert Settings.from_env({}).auth.tenant_demo_login is True  # SQLite: the embedded demo
    assert Settings.from_env({**postgres, "TENANT_DEMO_LOGIN": "1"}).auth.tenant_demo_login is True


def test_with_the_demo_login_off_code_and_phone_let_nobody_in(client, make_account, make_tenant, monkeypatch,
                                                             reload_settings):
    shop = make_account()
    tenant = make_tenant([shop])
    monkeypatch.setenv("TENANT_DEMO_LOGIN", "0")
    reload_settings()
    page = client.get("/auth/tenant/login").get_data(as_text=True)
    # the SMS code's form (a phone, then its code) and WeChat; no account code
    assert 'name="account"' not in page and "/auth/tenant/login/code" in page and "微信" in page
    response = client.post("/auth/tenant/login", data={"account": shop.code, "phone": tenant.phone})
    assert response.status_code == 404
    assert client.get("/t/").status_code == 302  # still nobody: sent to log in


def test_a_phone_tried_again_and_again_is_held_back(limited, make_account, make_tenant):
    shop = make_account()
    tenant = make_tenant([shop])
    client = limited.test_client()
    for code in range(10):
        client.post("/auth/tenant/login", data={"account": f"X{code}", "phone": tenant.phone},
                    environ_base={"REMOTE_ADDR": f"198.51.100.{code}"})
    response = client.post("/auth/tenant/login", data={"account": shop.code, "phone": tenant.phone})
    assert response.status_code == 429
