"""POST /pay/wechat/notify (API v2): MD5-signed XML, SUCCESS XML once accepted, HTTP 400 XML FAIL for junk."""
from __future__ import annotations

import threading
from xml.etree import ElementTree

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Alarm, AlarmKind, LedgerEntry, OrderStatus, PaymentNotification
from tests.payments.standin_wechat import md5_sign, to_xml
from tests.payments.wechat_fixtures import (
    API_KEY,
    APPID,
    MCHID,
    V2_NOTIFY,
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


def answer(response) -> dict[str, str]:
    assert response.mimetype == "application/xml"
    return {child.tag: child.text for child in ElementTree.fromstring(response.data)}


@pytest.fixture
def paid(wechat_v2, placed):
    """paid(amount_fen) -> an order placed through API v2 and paid at the stand-in."""

    def make(amount_fen: int = 1234):
        order, _ = placed(amount_fen)
        wechat_v2.pay(order.out_trade_no)
        return order

    return make


@pytest.fixture
def post(client):
    def send(body: bytes | str):
        return client.post(V2_NOTIFY, data=body, content_type="text/xml")

    return send


def assert_refused(response, books, before):
    assert response.status_code == 400
    assert answer(response)["return_code"] == "FAIL"
    assert books() == before


# --- accepted ---------------------------------------------------------------------------------------

def test_signed_notify_answers_success_and_credits_the_order(paid, wechat_v2, post):
    order = paid(1234)
    response = post(wechat_v2.v2_payment_notify(order.out_trade_no))
    assert response.status_code == 200 and answer(response)["return_code"] == "SUCCESS"
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED
    assert order.platform_trade_no == wechat_v2.trades[order.out_trade_no].transaction_id
    assert order.paid_at is not None and order.payer == "o-payer-1"
    [entry] = db.session.execute(select(LedgerEntry)).scalars().all()
    assert entry.amount_fen == 1234
    assert outcomes() == [("accepted", "")]
    assert db.session.execute(select(PaymentNotification.source)).scalar_one() == "wechat_v2"


def test_a_duplicate_notify_answers_success_and_credits_nothing_more(paid, wechat_v2, post, books):
    order = paid(1234)
    body = wechat_v2.v2_payment_notify(order.out_trade_no)
    assert answer(post(body))["return_code"] == "SUCCESS"
    assert answer(post(body))["return_code"] == "SUCCESS"
    assert books()["entries"] == 1
    assert [o for o, _ in outcomes()] == ["accepted", "duplicate"]


def test_twenty_concurrent_duplicates_credit_once(app, paid, wechat_v2, books):
    order = paid(999)
    body = wechat_v2.v2_payment_notify(order.out_trade_no)
    start = threading.Barrier(20)
    codes: list[int] = []

    def deliver():
        with app.app_context():
            start.wait()
            codes.append(app.test_client().post(V2_NOTIFY, data=body, content_type="text/xml").status_code)
            db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes == [200] * 20 and books()["entries"] == 1
    db.session.expire_all()
    assert order.account.balance_fen == 999


def test_v2_notifies_are_accepted_while_api_v3_is_configured_too(wechat_v3, placed, post):
    # An order placed through v2 earlier keeps sending v2 notifies after the switch to v3.
    order, _ = placed(700)
    wechat_v3.pay(order.out_trade_no)
    assert answer(post(wechat_v3.v2_payment_notify(order.out_trade_no)))["return_code"] == "SUCCESS"
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED


def test_the_platform_delivers_its_own_notify_to_the_live_app(paid, wechat_v2, live_server):
    order = paid(555)
    status, body = wechat_v2.deliver_notify(order.out_trade_no)
    assert status == 200 and b"SUCCESS" in body
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED


# --- validly signed but wrong for us -----------------------------------------------------------------

def test_an_amount_that_differs_from_the_order_is_an_anomaly(paid, wechat_v2, post, books):
    order = paid(1234)
    response = post(wechat_v2.v2_payment_notify(order.out_trade_no, total=1200))
    assert response.status_code == 200 and answer(response)["return_code"] == "SUCCESS"
    [(outcome, reason)] = outcomes()
    assert outcome == "anomaly" and "1200 fen" in reason
    db.session.expire_all()
    [alarm] = db.session.execute(select(Alarm)).scalars().all()
    assert alarm.kind == AlarmKind.PAYMENT_ANOMALY and alarm.account_id == order.account_id
    assert books()["entries"] == 0 and order.status == OrderStatus.CREATED


@pytest.mark.parametrize("field, value", [("mch_id", "1900000000"), ("appid", "wx0000000000000000")])
def test_another_merchant_or_app_is_an_anomaly(paid, wechat_v2, post, books, field, value):
    order = paid()
    response = post(wechat_v2.v2_payment_notify(order.out_trade_no, **{field: value}))
    assert answer(response)["return_code"] == "SUCCESS"
    [(outcome, reason)] = outcomes()
    assert outcome == "anomaly" and value in reason
    assert books()["alarms"] == 1 and books()["entries"] == 0


def test_a_failed_payment_is_recorded_and_ignored(paid, wechat_v2, post, books):
    order = paid()
    response = post(wechat_v2.v2_payment_notify(order.out_trade_no, result_code="FAIL", transaction_id=None))
    assert answer(response)["return_code"] == "SUCCESS"
    assert [o for o, _ in outcomes()] == ["ignored"] and books()["entries"] == 0


# --- refunds ------------------------------------------------------------------------------------------

def test_a_refund_notify_is_decrypted_recorded_and_acknowledged(paid, wechat_v2, post, books):
    order = paid(1000)
    response = post(wechat_v2.v2_refund_notify(order.out_trade_no, "RF9", 300))
    assert response.status_code == 200 and answer(response)["return_code"] == "SUCCESS"
    note = db.session.execute(select(PaymentNotification)).scalar_one()
    assert (note.outcome.value, note.reason, note.amount_fen, note.order_id) == (
        "anomaly", "refund notify for an unknown refund RF9 (300 fen)", 300, order.id)
    assert books()["entries"] == 0


def test_a_refund_notify_encrypted_with_another_key_is_refused(paid, wechat_v2, post, books):
    order = paid(1000)
    before = books()
    assert_refused(post(wechat_v2.v2_refund_notify(order.out_trade_no, "RF9", 300, key="k" * 32)), books, before)


@pytest.mark.parametrize("req_info", ["not base64!", "QUJD", ""])
def test_a_refund_notify_with_a_broken_req_info_is_refused(wechat_v2, post, books, req_info):
    body = to_xml({"return_code": "SUCCESS", "appid": APPID, "mch_id": MCHID, "req_info": req_info})
    before = books()
    assert_refused(post(body), books, before)


def test_a_refund_notify_for_another_merchant_is_refused(paid, wechat_v2, post, books):
    order = paid(1000)
    before = books()
    assert_refused(post(wechat_v2.v2_refund_notify(order.out_trade_no, "RF9", 300, mch_id="1900000000")),
                   books, before)


# --- refused: HTTP 400 XML FAIL, nothing written ------------------------------------------------------

def test_a_changed_amount_after_signing_is_refused(paid, wechat_v2, post, books):
    order = paid(1234)
    body = wechat_v2.v2_payment_notify(order.out_trade_no).replace(b"<total_fee><![CDATA[1234]]>",
                                                                    b"<total_fee><![CDATA[1]]>")
    before = books()
    assert_refused(post(body), books, before)


def test_a_notify_without_sign_is_refused(paid, wechat_v2, post, books):
    order = paid()
    before = books()
    assert_refused(post(wechat_v2.v2_payment_notify(order.out_trade_no, sign=False)), books, before)


def test_a_notify_signed_with_another_key_is_refused(paid, wechat_v2, post, books):
    order = paid()
    before = books()
    assert_refused(post(wechat_v2.v2_payment_notify(order.out_trade_no, key="x" * 32)), books, before)


def test_hmac_sha256_sign_type_is_refused(paid, wechat_v2, post, books):
    order = paid()
    before = books()
    assert_refused(post(wechat_v2.v2_payment_notify(order.out_trade_no, sign_type="HMAC-SHA256")), books, before)


@pytest.mark.parametrize("missing", ["out_trade_no", "total_fee", "transaction_id", "appid", "mch_id"])
def test_a_signed_notify_missing_a_field_is_refused(paid, wechat_v2, post, books, missing):
    order = paid()
    before = books()
    assert_refused(post(wechat_v2.v2_payment_notify(order.out_trade_no, **{missing: None})), books, before)


@pytest.mark.parametrize("fee", ["12.34", "-1", "1e3", "１２３", " 123", "0x10"])
def test_a_signed_notify_with_a_malformed_total_fee_is_refused(paid, wechat_v2, post, books, fee):
    order = paid()
    before = books()
    assert_refused(post(wechat_v2.v2_payment_notify(order.out_trade_no, total_fee=fee)), books, before)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><out_trade_no>&lol3;</out_trade_no></xml>"""
XXE = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<xml><out_trade_no>&x;</out_trade_no></xml>"""
INTERNAL_ENTITY_NO_DOCTYPE_WORD = "<xml><a>&amp;</a><b>&unknown;</b></xml>"


@pytest.mark.parametrize("body", [
    BILLION_LAUGHS, XXE, BILLION_LAUGHS.replace("DOCTYPE", "doctype"),
    # UTF-16 would hide the DOCTYPE from a byte search; the body must be UTF-8 anyway.
    BILLION_LAUGHS.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16"),
    INTERNAL_ENTITY_NO_DOCTYPE_WORD,
    "<xml><return_code>SUCCESS</return_code>", "not xml at all", "", "<other><a>1</a></other>", "<xml></xml>",
    "<xml><out_trade_no><a>1</a></out_trade_no></xml>", "<xml><a>1</a><a>2</a></xml>", '<xml x="1"><a>1</a></xml>',
    b"<xml><a>\xff\xfe</a></xml>",
])
def test_malformed_or_entity_laden_xml_is_refused(wechat_v2, post, books, body):
    before = books()
    assert_refused(post(body), books, before)


def test_a_signed_document_with_entities_is_still_refused(paid, wechat_v2, post, books):
    # Even correctly signed fields do not get past a DTD.
    order = paid()
    body = wechat_v2.v2_payment_notify(order.out_trade_no)
    doc = b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "x">]>' + body
    before = books()
    assert_refused(post(doc), books, before)


def test_a_body_over_64_kib_is_refused(paid, wechat_v2, post, books):
    order = paid()
    body = wechat_v2.v2_payment_notify(order.out_trade_no, attach="z" * 70_000)
    before = books()
    assert_refused(post(body), books, before)


def test_when_api_v2_is_not_configured_the_notify_is_not_accepted(no_wechat, post, books):
    fields = {"appid": APPID, "mch_id": MCHID, "out_trade_no": "PF1", "total_fee": "1",
              "return_code": "SUCCESS", "result_code": "SUCCESS", "transaction_id": "42"}
    fields["sign"] = md5_sign(fields, API_KEY)
    before = books()
    response = post(to_xml(fields))
    assert response.status_code == 503 and answer(response)["return_code"] == "FAIL"
    assert books() == before
