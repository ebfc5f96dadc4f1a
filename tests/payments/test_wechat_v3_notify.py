"""POST /pay/wechat/v3/notify: RSA-SHA256 headers, AES-256-GCM resource, 204 once accepted, 4xx for junk."""
from __future__ import annotations

import base64
import json
import threading
import time

import pytest
import requests
from sqlalchemy import select

from portal.extensions import db
from portal.models import Alarm, AlarmKind, LedgerEntry, OrderStatus, PaymentNotification
from tests.payments.wechat_fixtures import (
    APIV3_KEY,
    V3_NOTIFY,
    no_wechat,
    placed,
    wechat_keys,
    wechat_standin,
    wechat_v2,
    wechat_v3,
)


def outcomes() -> list[tuple[str, str]]:
    db.session.expire_all()
    rows = db.session.execute(select(PaymentNotification).order_by(PaymentNotification.id)).scalars()
    return [(n.outcome.value, n.reason) for n in rows]


@pytest.fixture
def paid(wechat_v3, placed):
    """paid(amount_fen) -> order placed through API v3 and paid by the payer at the stand-in."""

    def make(amount_fen: int = 1234):
        order, _ = placed(amount_fen)
        wechat_v3.pay(order.out_trade_no)
        return order

    return make


@pytest.fixture
def post(client):
    """post(body, headers) delivers a v3 notify."""

    def send(body: bytes, headers: dict):
        return client.post(V3_NOTIFY, data=body, headers=headers)

    return send


def assert_refused(response, books, before, status=401):
    assert response.status_code == status
    assert response.get_json()["code"] == "FAIL" and response.get_json()["message"]
    assert books() == before


# --- accepted ---------------------------------------------------------------------------------------

def test_signed_notify_answers_204_and_credits_the_order(paid, wechat_v3, post, books):
    order = paid(1234)
    response = post(*wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no)))
    assert response.status_code == 204 and response.data == b""
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED
    assert order.platform_trade_no == wechat_v3.trades[order.out_trade_no].transaction_id
    assert order.payer == "o-payer-1" and order.paid_at is not None
    [entry] = db.session.execute(select(LedgerEntry)).scalars().all()
    assert (entry.amount_fen, entry.account_id) == (1234, order.account_id)
    assert outcomes() == [("accepted", "")]


def test_the_raw_body_and_signature_headers_are_kept(paid, wechat_v3, post):
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))
    post(body, headers)
    note = db.session.execute(select(PaymentNotification)).scalar_one()
    assert note.source == "wechat_v3" and note.raw == body.decode()
    assert note.headers["Wechatpay-Signature"] == headers["Wechatpay-Signature"]


def test_a_duplicate_notify_answers_204_and_credits_nothing_more(paid, wechat_v3, post, books):
    order = paid(1234)
    assert post(*wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))).status_code == 204
    assert post(*wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))).status_code == 204
    assert books()["entries"] == 1
    assert [o for o, _ in outcomes()] == ["accepted", "duplicate"]
    db.session.expire_all()
    assert order.account.balance_fen == 1234


def test_fifty_concurrent_duplicates_over_http_credit_once(paid, wechat_v3, live_server, books):
    order = paid(4321)
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))
    start = threading.Barrier(50)
    answers: list[int] = []

    def deliver():
        start.wait()
        answers.append(requests.post(live_server + V3_NOTIFY, data=body, headers=headers, timeout=60).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert answers == [204] * 50
    assert books()["entries"] == 1
    kinds = [o for o, _ in outcomes()]
    assert kinds.count("accepted") == 1 and kinds.count("duplicate") == 49
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and order.account.balance_fen == 4321


def test_the_platform_delivers_its_own_notify_to_the_live_app(paid, wechat_v3, live_server):
    order = paid(800)  # placed with PUBLIC_BASE_URL = the live app, so the platform calls it back there
    assert wechat_v3.trades[order.out_trade_no].notify_url == live_server + V3_NOTIFY
    status, _ = wechat_v3.deliver_notify(order.out_trade_no)
    assert status == 204
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and order.account.balance_fen == 800


# --- validly signed but wrong for us: recorded as an anomaly, acknowledged, not credited -------------

def anomaly_alarms() -> list[Alarm]:
    db.session.expire_all()
    return db.session.execute(select(Alarm).where(Alarm.kind == AlarmKind.PAYMENT_ANOMALY)).scalars().all()


def test_an_amount_that_differs_from_the_order_is_an_anomaly(paid, wechat_v3, post, books):
    order = paid(1234)
    response = post(*wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no, total=1)))
    assert response.status_code == 204
    [(outcome, reason)] = outcomes()
    assert outcome == "anomaly" and "1 fen" in reason
    [alarm] = anomaly_alarms()
    assert alarm.account_id == order.account_id
    assert books()["entries"] == 0
    db.session.expire_all()
    assert order.status == OrderStatus.CREATED


@pytest.mark.parametrize("field, value", [("mchid", "1900000000"), ("appid", "wx0000000000000000")])
def test_another_merchant_or_app_is_an_anomaly(paid, wechat_v3, post, books, field, value):
    order = paid(1234)
    response = post(*wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no, **{field: value})))
    assert response.status_code == 204
    [(outcome, reason)] = outcomes()
    assert outcome == "anomaly" and value in reason
    assert len(anomaly_alarms()) == 1 and books()["entries"] == 0


def test_an_unknown_order_is_an_anomaly(wechat_v3, post, make_account, books):
    make_account()  # a site for the alarm
    response = post(*wechat_v3.v3_notify(wechat_v3.v3_transaction("PF0000000000000000000", total=100)))
    assert response.status_code == 204
    assert outcomes() == [("anomaly", "no such order")]
    assert len(anomaly_alarms()) == 1


def test_a_state_other_than_success_is_recorded_and_ignored(paid, wechat_v3, post, books):
    order = paid()
    response = post(*wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no, trade_state="PAYERROR")))
    assert response.status_code == 204
    assert [o for o, _ in outcomes()] == ["ignored"]
    assert books()["entries"] == 0


def test_an_event_type_we_do_not_use_is_acknowledged(wechat_v3, post, books):
    response = post(*wechat_v3.v3_notify({"anything": 1}, event_type="COUPON.USE"))
    assert response.status_code == 204
    assert outcomes() == [("ignored", "event type not used")]


# --- refunds: recorded and handed over -------------------------------------------------------------

def test_a_refund_notify_for_a_refund_we_never_asked_is_recorded_as_an_anomaly_and_acknowledged(paid, wechat_v3,
                                                                                                post, books):
    order = paid(1000)
    resource = wechat_v3.v3_refund_resource(order.out_trade_no, "RF1", 400)
    response = post(*wechat_v3.v3_notify(resource, event_type="REFUND.SUCCESS"))
    assert response.status_code == 204
    note = db.session.execute(select(PaymentNotification)).scalar_one()
    assert (note.outcome.value, note.reason, note.amount_fen) == (
        "anomaly", "refund notify for an unknown refund RF1 (400 fen)", 400)
    assert note.order_id == order.id and note.platform_trade_no == resource["refund_id"]
    assert books()["entries"] == 0


def test_a_refund_notify_reaches_the_refunds_module_when_there_is_one(paid, wechat_v3, post, monkeypatch):
    seen = []
    monkeypatch.setattr("portal.pay.wechat.refund_notified",
                        lambda session, notice, note: seen.append((notice.out_refund_no, notice.success)))
    order = paid(1000)
    post(*wechat_v3.v3_notify(wechat_v3.v3_refund_resource(order.out_trade_no, "RF2", 1000),
                              event_type="REFUND.SUCCESS"))
    assert seen == [("RF2", True)]


# --- refused: 4xx {"code": "FAIL"}, nothing written ---------------------------------------------------

def test_a_body_changed_after_signing_is_refused(paid, wechat_v3, post, books):
    order = paid(1234)
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))
    before = books()
    assert_refused(post(body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" '), headers), books, before)


def test_a_signature_by_another_key_is_refused(paid, wechat_v3, wechat_keys, post, books):
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no), key=wechat_keys.stranger)
    before = books()
    assert_refused(post(body, headers), books, before)


def test_a_serial_that_is_not_our_public_key_id_is_refused(paid, wechat_v3, post, books):
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no), serial="5157F09EFDC096DE15")
    before = books()
    assert_refused(post(body, headers), books, before)
    assert not any(call.endswith("/v3/certificates") for call in wechat_v3.calls)  # no call out for it


@pytest.mark.parametrize("skew", [-301, -3600, 301, 86400])
def test_a_timestamp_more_than_five_minutes_away_is_refused(paid, wechat_v3, post, books, skew, monkeypatch):
    from types import SimpleNamespace

    from portal.payments.providers.wechat import v3

    now = int(time.time())  # the route's clock held still: a second passing would bring 301 s within the limit
    monkeypatch.setattr(v3, "time", SimpleNamespace(time=lambda: float(now)))
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no), timestamp=now + skew)
    before = books()
    assert_refused(post(body, headers), books, before)


def test_a_timestamp_within_five_minutes_is_accepted(paid, wechat_v3, post):
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no), timestamp=int(time.time()) - 280)
    assert post(body, headers).status_code == 204


@pytest.mark.parametrize("header", ["Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce",
                                    "Wechatpay-Serial"])
def test_a_missing_signature_header_is_refused(paid, wechat_v3, post, books, header):
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))
    del headers[header]
    before = books()
    assert_refused(post(body, headers), books, before)


def test_another_signature_type_is_refused(paid, wechat_v3, post, books):
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))
    before = books()
    assert_refused(post(body, {**headers, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}), books, before)


def signed(standin, doc) -> tuple[bytes, dict]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return body, standin.v3_sign(body)


def test_signed_body_that_is_not_json_is_refused(wechat_v3, post, books):
    before = books()
    assert_refused(post(*signed(wechat_v3, b"{not json")), books, before, 400)


def test_signed_json_without_a_resource_is_refused(wechat_v3, post, books):
    before = books()
    assert_refused(post(*signed(wechat_v3, {"event_type": "TRANSACTION.SUCCESS"})), books, before, 400)


def test_ciphertext_that_is_not_base64_is_refused(paid, wechat_v3, post, books):
    order = paid()
    body, _ = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))
    doc = json.loads(body)
    doc["resource"]["ciphertext"] = "%%%" + doc["resource"]["ciphertext"]
    before = books()
    assert_refused(post(*signed(wechat_v3, doc)), books, before, 400)


def test_a_wrong_gcm_tag_is_refused(paid, wechat_v3, post, books):
    order = paid()
    body, _ = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))
    doc = json.loads(body)
    raw = bytearray(base64.b64decode(doc["resource"]["ciphertext"]))
    raw[-1] ^= 0x01
    doc["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    before = books()
    assert_refused(post(*signed(wechat_v3, doc)), books, before, 400)


def test_changed_associated_data_is_refused(paid, wechat_v3, post, books):
    order = paid()
    body, _ = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no))
    doc = json.loads(body)
    doc["resource"]["associated_data"] = "refund"
    before = books()
    assert_refused(post(*signed(wechat_v3, doc)), books, before, 400)


def test_a_resource_encrypted_with_another_apiv3_key_is_refused(paid, wechat_v3, post, books):
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no), apiv3_key=APIV3_KEY[::-1])
    before = books()
    assert_refused(post(body, headers), books, before, 400)


@pytest.mark.parametrize("change", [
    {"amount": None}, {"amount": {"total": "1234"}}, {"amount": {"total": 12.34}}, {"amount": {"total": True}},
    {"out_trade_no": None}, {"transaction_id": None}, {"trade_state": None}, {"mchid": None}, {"appid": None},
])
def test_a_resource_missing_a_field_is_refused(paid, wechat_v3, post, books, change):
    order = paid(1234)
    before = books()
    assert_refused(post(*wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no, **change))),
                   books, before, 400)


def test_a_resource_that_is_not_json_is_refused(wechat_v3, post, books):
    before = books()
    assert_refused(post(*wechat_v3.v3_notify("not json")), books, before, 400)


def test_a_body_over_64_kib_is_refused_before_it_is_read(paid, wechat_v3, post, books):
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no, attach="x" * 70_000))
    before = books()
    assert_refused(post(body, headers), books, before, 413)


def test_a_chunked_body_over_64_kib_is_refused(paid, wechat_v3, live_server, books):
    order = paid()
    body, headers = wechat_v3.v3_notify(wechat_v3.v3_transaction(order.out_trade_no, attach="y" * 70_000))
    before = books()
    chunks = iter([body[i:i + 8192] for i in range(0, len(body), 8192)])
    response = requests.post(live_server + V3_NOTIFY, data=chunks, headers=headers, timeout=10)
    assert response.status_code == 413 and response.json()["code"] == "FAIL"
    assert books() == before


def test_when_api_v3_is_not_configured_the_notify_is_not_accepted(wechat_v2, post, books):
    body, headers = wechat_v2.v3_notify(wechat_v2.v3_transaction("PF1", total=100))
    before = books()
    response = post(body, headers)
    assert response.status_code == 503 and response.get_json()["code"] == "FAIL"
    assert books() == before
