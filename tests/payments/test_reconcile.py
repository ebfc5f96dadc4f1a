"""Daily bills and reconciliation: a lost notify, a credit missing from the bill, an amount that differs."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Alarm, BillLine, LedgerEntry, NotifyOutcome, OrderStatus, utcnow
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.providers.alipay import api as alipay
from portal.payments.reconciliation import download_bills, reconciliation_report
from portal.payments.recovery import settle_from_bill
from portal.settings import PaymentSettings
from tests.payments.standin_alipay import BEIJING
from tests.payments.wechat_fixtures import (
    no_wechat,
    placed,
    wechat_keys,
    wechat_standin,
    wechat_v2,
    wechat_v3,
)
from worker.jobs.payments import daily_reconciliation, sweep_open_orders
from worker.jobs.payments import daily_reconciliation as reconciliation_job
from worker.schedule import daily_cron, periodic

PAY_QUERY_AFTER_MINUTES = PaymentSettings().query_after_minutes


def today():
    return datetime.now(BEIJING).date()


def credit_by_query(order) -> None:
    """The notify arrived (the query gives the same verified payment): the order is credited."""
    assert accept_payment(db.session, alipay.query_trade(order.out_trade_no)) == NotifyOutcome.ACCEPTED
    db.session.commit()


def bill_lines() -> int:
    return db.session.scalar(select(func.count()).select_from(BillLine))


def test_reconciliation_finds_a_lost_notify_a_credit_off_the_bill_and_an_amount_difference(
        alipay_env, no_wechat, paid_trade, make_order):
    lost, _ = paid_trade(1500)  # paid, notify lost: on the bill, not credited
    good, _ = paid_trade(2000)
    credit_by_query(good)  # paid and credited: no mismatch
    off_bill = make_order(3000)  # credited here, but Alipay has no such trade
    accept_payment(db.session, VerifiedPayment(source="alipay", out_trade_no=off_bill.out_trade_no,
                                               platform_trade_no="2099010122001999", amount_fen=3000, success=True))
    db.session.commit()
    differs, _ = paid_trade(1000)
    credit_by_query(differs)
    alipay_env.trades[differs.out_trade_no].total_amount = "9.00"  # the bill says 9.00 yuan

    assert download_bills(today()) == {"alipay": 3}
    db.session.commit()
    report = {(m.kind, m.out_trade_no): m for m in reconciliation_report(today())}
    assert set(report) == {("paid_not_credited", lost.out_trade_no), ("credited_not_on_bill", off_bill.out_trade_no),
                           ("amount_differs", differs.out_trade_no)}
    m = report[("amount_differs", differs.out_trade_no)]
    assert (m.source, m.bill_fen, m.order_fen, m.order_id) == ("alipay", 900, 1000, differs.id)
    m = report[("paid_not_credited", lost.out_trade_no)]
    assert (m.bill_fen, m.order_status, m.platform_trade_no) == (
        1500, "created", alipay_env.trades[lost.out_trade_no].trade_no)

    # The sweep credits the lost one through the query; the next report no longer lists it.
    assert sweep_open_orders(now=utcnow() + timedelta(minutes=PAY_QUERY_AFTER_MINUTES + 1))["credited"] == 1
    db.session.expire_all()
    assert lost.status == OrderStatus.CREDITED
    assert {m.kind for m in reconciliation_report(today())} == {"credited_not_on_bill", "amount_differs"}


def test_downloading_the_same_bill_twice_stores_it_once(alipay_env, no_wechat, paid_trade):
    for amount in (1000, 2000):
        order, _ = paid_trade(amount)
        credit_by_query(order)
    assert download_bills(today()) == {"alipay": 2}
    db.session.commit()
    assert download_bills(today()) == {"alipay": 0}
    db.session.commit()
    assert bill_lines() == 2
    assert reconciliation_report(today()) == []


def test_a_day_without_a_bill(alipay_env, no_wechat):
    assert download_bills(today() - timedelta(days=3)) == {"alipay": 0}
    assert reconciliation_report(today() - timedelta(days=3)) == []


def test_one_platform_failing_does_not_stop_the_other(alipay_env, wechat_v3, placed, make_order, monkeypatch,
                                                      reload_settings):
    order, _ = placed(1200)
    wechat_v3.pay(order.out_trade_no)
    monkeypatch.setenv("ALIPAY_GATEWAY", "http://127.0.0.1:9/gateway.do")  # Alipay unreachable
    reload_settings()
    result = download_bills(today())
    assert result["wechat"] == 1 and result["alipay"].startswith("error")
    db.session.commit()
    report = reconciliation_report(today())
    assert [(m.kind, m.source, m.out_trade_no) for m in report] == [
        ("paid_not_credited", "wechat", order.out_trade_no)]


def test_daily_job_reconciles_yesterday_or_a_day_and_raises_alarms(alipay_env, no_wechat, paid_trade):
    lost, _ = paid_trade(1500)
    result = daily_reconciliation(today().isoformat())
    assert result["downloaded"] == {"alipay": 1}
    assert [(m["kind"], m["out_trade_no"]) for m in result["mismatches"]] == [("paid_not_credited", lost.out_trade_no)]
    assert db.session.scalar(select(func.count()).select_from(Alarm)) == 1
    daily_reconciliation(today().isoformat())  # a rerun opens no second alarm
    assert db.session.scalar(select(func.count()).select_from(Alarm)) == 1
    assert daily_reconciliation()["day"] == (today() - timedelta(days=1)).isoformat()


def test_the_daily_job_runs_at_ten_beijing_time():
    from zoneinfo import ZoneInfo

    [RECONCILE_CRON] = [p.cron for p in periodic(ZoneInfo("Asia/Shanghai")) if p.func is reconciliation_job]
    assert RECONCILE_CRON == daily_cron(10, 0, ZoneInfo("Asia/Shanghai")) == "0 2 * * *"
    assert daily_cron(1, 30, ZoneInfo("Asia/Shanghai")) == "30 17 * * *"


def test_reconcile_command(alipay_env, no_wechat, paid_trade, runner):
    lost, _ = paid_trade(1500)
    good, _ = paid_trade(500)
    credit_by_query(good)
    out = runner.invoke(args=["payments", "reconcile", "--date", today().isoformat()])
    assert out.exit_code == 1, out.output
    assert "alipay: 2 new bill lines" in out.output
    assert f"paid_not_credited\talipay\t{lost.out_trade_no}" in out.output and "1 mismatches" in out.output

    credit_by_query(lost)
    out = runner.invoke(args=["payments", "reconcile", "--date", today().isoformat(), "--no-download"])
    assert out.exit_code == 0, out.output
    assert "0 mismatches" in out.output
    assert runner.invoke(args=["payments", "reconcile", "--date", "2024-13-01"]).exit_code == 2


def test_settling_a_payment_from_the_bill_asks_the_platform_and_credits_once(alipay_env, no_wechat, paid_trade,
                                                                              make_order):
    """The results page's "credit it" (portal.payments.recovery.settle_from_bill): a lost notify is accepted as the
    sweep's query, its credit runs once; asked again, nothing more; a trade the platform has not seen paid, nothing."""
    lost, _ = paid_trade(1500)
    assert settle_from_bill(db.session, lost.id) == "queued"
    db.session.commit()  # the credit job runs after the commit
    db.session.expire_all()
    assert lost.status == OrderStatus.CREDITED
    assert settle_from_bill(db.session, lost.id) == "already"
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)
                             .where(LedgerEntry.order_id == lost.id)) == 1
    never_paid = make_order(800)
    assert settle_from_bill(db.session, never_paid.id) == "unpaid"
    db.session.expire_all()
    assert never_paid.status == OrderStatus.CREATED
