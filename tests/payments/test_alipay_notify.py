"""POST /pay/alipay/notify: RSA2-verified, credited exactly once, anomalies acknowledged, junk refused."""
from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import select

from portal.extensions import db
from portal.models import Alarm, AlarmKind, LedgerEntry, OrderStatus, PaymentNotification, PaymentOrder
from portal.queue.dispatch import connect_redis
from tests.payments.conftest import NOTIFY_PATH


def outcomes() -> list[tuple[str, str]]:
    db.session.expire_all()
    rows = db.session.execute(select(PaymentNotification).order_by(PaymentNotification.id)).scalars()
    return [(n.outcome.value, n.reason) for n in rows]


def assert_refused(response, books, before):
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "fail"
    assert books() == before


# --- accepted ---------------------------------------------------------------------------------------

def test_signed_notify_answers_success_and_credits_the_order(paid_trade, notify, books):
    order, fields = paid_trade(1234)
    response = notify(fields)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "success"
    assert response.mimetype == "text/plain"
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED
    assert order.platform_trade_no == fields["trade_no"]
    assert order.payer == fields["buyer_id"] and order.paid_at is not None
    [entry] = db.session.execute(select(LedgerEntry)).scalars().all()
    assert (entry.amount_fen, entry.account_id) == (1234, order.account_id)
    assert order.account.balance_fen == 1234
    [(outcome, _)] = outcomes()
    assert outcome == "accepted"


def test_the_raw_notify_is_kept_as_received(paid_trade, notify):
    _, fields = paid_trade()
    notify(fields)
    note = db.session.execute(select(PaymentNotification)).scalar_one()
    assert "sign=" in note.raw and f"trade_no={fields['trade_no']}" in note.raw
    assert note.source == "alipay"


def test_a_duplicate_notify_answers_success_and_credits_nothing_more(paid_trade, notify, books):
    order, fields = paid_trade(1234)
    assert notify(fields).get_data(as_text=True) == "success"
    again = notify(fields)
    assert again.status_code == 200 and again.get_data(as_text=True) == "success"
    assert books()["entries"] == 1
    assert [o for o, _ in outcomes()] == ["accepted", "duplicate"]
    db.session.expire_all()
    assert order.account.balance_fen == 1234


def test_trade_finished_is_a_success_status(paid_trade, notify):
    order, fields = paid_trade(500, trade_status="TRADE_FINISHED")
    assert notify(fields).get_data(as_text=True) == "success"
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED


def test_fifty_concurrent_duplicates_credit_once(app, paid_trade, books):
    order, fields = paid_trade(4321)
    body = urlencode(fields)
    start = threading.Barrier(50)
    answers: list[tuple[int, str]] = []

    def deliver():
        with app.app_context():
            client = app.test_client()
            start.wait()
            response = client.post(NOTIFY_PATH, data=body, content_type="application/x-www-form-urlencoded")
            answers.append((response.status_code, response.get_data(as_text=True)))
            db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert answers == [(200, "success")] * 50
    assert books()["entries"] == 1
    kinds = [o for o, _ in outcomes()]
    assert kinds.count("accepted") == 1 and kinds.count("duplicate") == 49
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and order.account.balance_fen == 4321


def test_a_field_left_empty_verifies_as_alipay_signs_it(paid_trade, notify):
    # Alipay's signer leaves empty values out of the signed string; python-alipay-sdk alone would not.
    order, fields = paid_trade(100, body="")
    assert fields["body"] == ""
    assert notify(fields).get_data(as_text=True) == "success"
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED


# --- refused: 400 fail, nothing written ---------------------------------------------------------------

def test_amount_changed_after_signing_is_refused(paid_trade, notify, books):
    _, fields = paid_trade(1234)
    before = books()
    assert_refused(notify({**fields, "total_amount": "1234.00"}), books, before)


def test_unsigned_notify_is_refused(paid_trade, notify, books):
    _, fields = paid_trade()
    before = books()
    assert_refused(notify({k: v for k, v in fields.items() if k != "sign"}), books, before)


def test_notify_signed_with_another_key_is_refused(paid_trade, alipay_env, alipay_keys, notify, books):
    order, _ = paid_trade()
    forged = alipay_env.notify_fields(order.out_trade_no, key_pem=alipay_keys.stranger_private)
    before = books()
    assert_refused(notify(forged), books, before)


def test_sign_type_other_than_rsa2_is_refused(paid_trade, notify, books):
    _, fields = paid_trade()
    before = books()
    assert_refused(notify({**fields, "sign_type": "RSA"}), books, before)


def test_signature_that_is_not_base64_is_refused(paid_trade, notify, books):
    _, fields = paid_trade()
    before = books()
    assert_refused(notify({**fields, "sign": "not base64 at all!"}), books, before)


@pytest.mark.parametrize("missing", ["out_trade_no", "trade_no", "total_amount", "trade_status", "app_id"])
def test_validly_signed_notify_missing_a_field_is_refused(paid_trade, alipay_env, notify, books, missing):
    order, _ = paid_trade()
    fields = alipay_env.notify_fields(order.out_trade_no, **{missing: None})
    assert missing not in fields
    before = books()
    assert_refused(notify(fields), books, before)


@pytest.mark.parametrize("amount", ["12.345", "12.3.4", "-12.34", "1e3", "12,34", " 12.34", "１２.３４", "", "12."])
def test_validly_signed_notify_with_a_malformed_amount_is_refused(paid_trade, alipay_env, notify, books, amount):
    order, _ = paid_trade(1234)
    fields = alipay_env.notify_fields(order.out_trade_no, total_amount=amount)
    before = books()
    assert_refused(notify(fields), books, before)


@pytest.mark.parametrize("body, content_type", [
    (b'{"trade_status": "TRADE_SUCCESS"}', "application/json"),
    (b"\x00\xff\xfe garbage", "application/octet-stream"),
    (b"<xml><return_code>SUCCESS</return_code></xml>", "text/xml"),
    (b"a=1&a=2&sign=x", "application/x-www-form-urlencoded"),
    (b"", "application/x-www-form-urlencoded"),
])
def test_non_form_garbage_is_refused(alipay_env, client, books, body, content_type):
    before = books()
    assert_refused(client.post(NOTIFY_PATH, data=body, content_type=content_type), books, before)


def test_a_body_over_64_kib_is_refused_before_it_is_parsed(paid_trade, alipay_env, notify, books):
    order, _ = paid_trade()
    fields = alipay_env.notify_fields(order.out_trade_no, body="x" * 70_000)  # validly signed, still too big
    before = books()
    assert_refused(notify(fields), books, before)


def post_chunked(base_url: str, fields: dict) -> tuple[int, bytes]:
    """POST a form with Transfer-Encoding: chunked (no Content-Length to check up front)."""
    import http.client

    payload = urlencode(fields).encode()
    conn = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=10)
    conn.request("POST", NOTIFY_PATH, body=iter([payload[i:i + 8192] for i in range(0, len(payload), 8192)]),
                 headers={"Content-Type": "application/x-www-form-urlencoded"}, encode_chunked=True)
    response = conn.getresponse()
    answer = response.status, response.read()
    conn.close()
    return answer


def test_a_chunked_body_over_64_kib_is_refused(paid_trade, alipay_env, live_server, books):
    order, _ = paid_trade()
    before = books()
    assert post_chunked(live_server, alipay_env.notify_fields(order.out_trade_no, body="y" * 70_000)) == (400, b"fail")
    assert books() == before


def test_a_chunked_notify_within_the_limit_is_accepted(paid_trade, live_server):
    order, fields = paid_trade()
    assert post_chunked(live_server, fields) == (200, b"success")
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED


def test_notify_is_not_taken_while_alipay_is_not_configured(paid_trade, alipay_env, notify, books, no_alipay):
    _, fields = paid_trade()
    before = books()
    response = notify(fields)  # it cannot be verified here: 503, so that Alipay retries it later
    assert (response.status_code, response.get_data(as_text=True)) == (503, "fail")
    assert books() == before


# --- verified but not creditable: recorded, acknowledged -------------------------------------------------

def test_amount_mismatch_is_an_anomaly_acknowledged_and_not_credited(paid_trade, alipay_env, notify, books):
    order, _ = paid_trade(1234)
    fields = alipay_env.notify_fields(order.out_trade_no, total_amount="12.35")
    response = notify(fields)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "success")
    [(outcome, reason)] = outcomes()
    assert outcome == "anomaly" and "1235" in reason and "1234" in reason
    alarm = db.session.execute(select(Alarm)).scalar_one()
    assert alarm.kind == AlarmKind.PAYMENT_ANOMALY and alarm.account_id == order.account_id
    db.session.expire_all()
    assert order.status == OrderStatus.CREATED and books()["entries"] == 0


def test_another_app_id_is_an_anomaly(paid_trade, alipay_env, notify, books):
    order, _ = paid_trade(1234)
    fields = alipay_env.notify_fields(order.out_trade_no, app_id="2021009999999999")
    assert notify(fields).get_data(as_text=True) == "success"
    [(outcome, reason)] = outcomes()
    assert outcome == "anomaly" and "app_id" in reason
    assert books()["alarms"] == 1 and books()["entries"] == 0


def test_another_seller_is_an_anomaly_when_alipay_seller_id_is_set(paid_trade, alipay_env, notify, books):
    order, _ = paid_trade(1234)
    fields = alipay_env.notify_fields(order.out_trade_no, seller_id="2088111111111111")
    assert notify(fields).get_data(as_text=True) == "success"
    [(outcome, reason)] = outcomes()
    assert outcome == "anomaly" and "seller_id" in reason
    assert books()["entries"] == 0


def test_seller_is_not_checked_when_alipay_seller_id_is_unset(paid_trade, alipay_env, notify, monkeypatch,
                                                              reload_settings):
    monkeypatch.delenv("ALIPAY_SELLER_ID")
    reload_settings()
    order, _ = paid_trade(1234)
    fields = alipay_env.notify_fields(order.out_trade_no, seller_id="2088111111111111")
    assert notify(fields).get_data(as_text=True) == "success"
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED


def test_a_notify_for_an_unknown_order_is_an_anomaly(alipay_env, notify, make_account, books):
    make_account()  # the alarm needs a site to belong to
    alipay_env.open_trade("PF0000000000NOSUCHORDER", "10.00")
    alipay_env.pay("PF0000000000NOSUCHORDER")
    assert notify(alipay_env.notify_fields("PF0000000000NOSUCHORDER")).get_data(as_text=True) == "success"
    assert outcomes() == [("anomaly", "no such order")]


def test_wait_buyer_pay_is_ignored(alipay_env, make_order, notify, books):
    from portal.payments.providers.alipay.api import fen_to_yuan

    order = make_order(800)
    alipay_env.open_trade(order.out_trade_no, fen_to_yuan(800))
    assert notify(alipay_env.notify_fields(order.out_trade_no)).get_data(as_text=True) == "success"
    assert [o for o, _ in outcomes()] == ["ignored"]
    db.session.expire_all()
    assert order.status == OrderStatus.CREATED and books()["entries"] == 0


def test_a_refund_notify_is_recorded_and_changes_no_money(paid_trade, alipay_env, notify, books):
    order, fields = paid_trade(1000)
    notify(fields)
    refund = alipay_env.notify_fields(order.out_trade_no, refund_fee="3.00", gmt_refund="2026-03-01 10:00:00.123",
                                      out_biz_no="RF-1")
    assert notify(refund).get_data(as_text=True) == "success"
    kinds = outcomes()
    assert kinds[-1][0] == "ignored" and "refund" in kinds[-1][1] and "RF-1" in kinds[-1][1]
    note = db.session.execute(select(PaymentNotification).order_by(PaymentNotification.id.desc())).scalars().first()
    assert note.amount_fen == 300 and note.order_id == order.id
    db.session.expire_all()
    assert books()["entries"] == 1 and order.account.balance_fen == 1000


# --- Redis down -------------------------------------------------------------------------------------

def test_a_notify_accepted_while_redis_is_down_is_credited_after_it_returns(redis_app, paid_trade, books):
    import socket

    from worker.jobs.housekeeping import sweep_outbox

    dispatcher = redis_app.extensions["payfirst.dispatcher"]
    live = dispatcher.redis
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    dispatcher.redis = connect_redis(f"redis://127.0.0.1:{closed}")
    order, fields = paid_trade(2500)
    response = redis_app.test_client().post(NOTIFY_PATH, data=fields)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "success")
    db.session.expire_all()
    assert order.status == OrderStatus.PAID and books()["entries"] == 0

    dispatcher.redis = live  # Redis is back: the periodic sweep hands the credit job over
    assert sweep_outbox() == 1
    SimpleWorker([Queue("payments", connection=live)], connection=live).work(burst=True)
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and order.account.balance_fen == 2500
    assert books()["entries"] == 1


# --- rate limits ----------------------------------------------------------------------------------------

@pytest.fixture
def app_wide_limit(second_app, alipay_env):
    """A second app with an application-wide rate limit, as an operator may set one (RATELIMIT_APPLICATION)."""
    from portal.extensions import limiter

    limited = second_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                         RATELIMIT_APPLICATION="2 per minute")
    limiter.reset()
    yield limited
    limiter.limit_manager.set_application_limits([])  # the limiter is the process's one: leave it as found
    limiter.reset()
    limiter.enabled = False


def test_a_payment_platform_is_never_rate_limited(app_wide_limit, paid_trade):
    """Alipay sends every shop's notifies from a few addresses: a limit on them would hold paid money back."""
    client = app_wide_limit.test_client()
    answers = [client.post(NOTIFY_PATH, data=paid_trade(1000 + i)[1]) for i in range(4)]
    assert [(a.status_code, a.get_data(as_text=True)) for a in answers] == [(200, "success")] * 4
    assert [o for o, _ in outcomes()] == ["accepted"] * 4


@pytest.mark.parametrize("path", [NOTIFY_PATH, "/pay/wechat/notify", "/pay/wechat/v3/notify"])
def test_no_notify_route_is_rate_limited(app_wide_limit, path):
    client = app_wide_limit.test_client()
    answers = {client.post(path, data=b"junk").status_code for _ in range(4)}
    assert 429 not in answers and answers <= {400, 413, 503}, answers


def test_the_app_wide_limit_still_holds_elsewhere(app_wide_limit):
    client = app_wide_limit.test_client()
    assert [client.get("/healthz").status_code for _ in range(3)][-1] == 429


def test_a_notify_on_a_connection_that_sat_idle_is_accepted(paid_trade, notify, monkeypatch):
    """A quiet night: the pool pings a connection idle for PING_AFTER_IDLE before the morning's first notify."""
    import portal.pool

    db.session.remove()
    db.engine.dispose()
    notify(paid_trade(1000)[1])  # the pool holds a connection again
    monkeypatch.setattr(portal.pool, "PING_AFTER_IDLE", 0.0)
    order, fields = paid_trade(2000)
    order_id = order.id
    db.session.remove()
    response = notify(fields)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "success")
    assert db.session.get(PaymentOrder, order_id).status == OrderStatus.CREDITED
