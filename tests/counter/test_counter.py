"""The counter: recharges and receipts, reversals, refunds, closure, transfers, meter swaps, the daily report, roles."""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.counter import operations as ops
from portal.extensions import db
from portal.ledger.entries import ledger_mismatches, post_entry
from portal.metering import swap
from portal.models import (
    Account,
    AccountStatus,
    AuditEntry,
    CommandStatus,
    ControlCommand,
    ControlMode,
    EntryKind,
    IntervalReading,
    LedgerEntry,
    NotifyOutcome,
    OrderStatus,
    PaymentOrder,
    Proposal,
    ProposalStatus,
    Refund,
    RefundStatus,
    Role,
    Supply,
    Tariff,
    TariffVersion,
    utcnow,
)
from portal.payments import refunds
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.orders import create_order
from portal.payments.providers.registry import ChannelUnavailable, configured
from portal.payments.refunds import RefundAnswer
from tests.payments.conftest import alipay_env, alipay_keys, standin

KEY = "0123456789abcdef0123456789abcdef"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def site(make_site):
    return make_site("mall", name="Riverside Mall")


@pytest.fixture
def shop(site, make_account, make_meter):
    """An active shop with ¥100.00 and one platform-mode meter that is on."""
    acct = make_account(site=site, code="A101", name="Bakery", balance_fen=10_000)
    make_meter(account=acct, code="E101", state={"online": True, "supply_actual": Supply.ON})
    return acct


@pytest.fixture
def staff(site, make_staff, login):
    """staff(role) -> a logged-in user of that role at the site."""

    def as_role(role: Role = Role.CASHIER, username: str | None = None):
        user = make_staff(role=role, sites=[site], username=username)
        login.staff(user)
        return user

    return as_role


def recharge(client, account, amount="200.00", key=KEY, method="cash", note=""):
    return client.post(f"/staff/counter/a/{account.id}/recharge",
                       data={"amount": amount, "method": method, "note": note, "key": key})


def approve_proposal(client, staff):
    """A manager (not the one who proposed it) approves the proposal waiting; the approval's answer."""
    staff(Role.MANAGER)
    proposal = db.session.scalars(select(Proposal).where(Proposal.status == ProposalStatus.PROPOSED)).one()
    return client.post(f"/staff/approvals/{proposal.id}/approve")


def entries(kind: EntryKind | None = None) -> list[LedgerEntry]:
    db.session.expire_all()
    q = select(LedgerEntry).order_by(LedgerEntry.id)
    return list(db.session.scalars(q.where(LedgerEntry.kind == kind) if kind else q))


def balance(account: Account) -> int:
    db.session.expire_all()
    return db.session.get(Account, account.id).balance_fen


def credited_order(account, amount_fen=5_000, channel="alipay_wap") -> PaymentOrder:
    order = create_order(db.session, account, amount_fen, channel, "tenant:1")
    db.session.commit()
    accept_payment(db.session, VerifiedPayment("test", order.out_trade_no, f"T{order.id}", amount_fen, True))
    db.session.commit()
    db.session.refresh(order)
    assert order.status == OrderStatus.CREDITED
    return order


# --- recharge and receipt ---------------------------------------------------------------------------------

def test_a_cash_recharge_posts_once_and_prints_a_receipt(client, staff, shop):
    cashier = staff()
    first = recharge(client, shop, "200.50")
    again = recharge(client, shop, "200.50")  # the double click
    [entry] = entries(EntryKind.CASH)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"] == f"/staff/counter/receipts/{entry.id}"
    assert (entry.amount_fen, entry.actor, entry.idempotency_key) == (20_050, cashier.actor, f"cash:counter:{KEY}")
    assert balance(shop) == 30_050
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "counter.recharge")) == 1


def test_the_same_form_with_another_amount_is_refused(client, staff, shop):
    staff()
    recharge(client, shop, "200")
    res = recharge(client, shop, "300")
    assert res.status_code == 303 and res.headers["Location"].endswith(f"/staff/counter/a/{shop.id}")
    assert [e.amount_fen for e in entries(EntryKind.CASH)] == [20_000]


def test_switching_cash_to_transfer_on_a_resubmit_still_posts_once(client, staff, shop):
    staff()
    first = recharge(client, shop, "20", method="cash")
    again = recharge(client, shop, "20", method="transfer")
    assert first.headers["Location"] == again.headers["Location"]
    assert len(entries(EntryKind.CASH)) == 1


def test_a_bad_amount_or_key_posts_nothing(client, staff, shop):
    staff()
    recharge(client, shop, "12,50")
    recharge(client, shop, "-5")
    recharge(client, shop, "5", key="not-a-key")
    recharge(client, shop, "5", method="cheque")
    recharge(client, shop, "100001")
    assert entries(EntryKind.CASH) == []


def test_every_counter_page_offers_a_fresh_form_key(client, staff, shop):
    staff()
    keys = [re.search(r'name="key" value="([0-9a-f]{32})"', client.get(f"/staff/counter/a/{shop.id}")
                      .get_data(as_text=True)).group(1) for _ in range(2)]
    assert keys[0] != keys[1]


def test_the_receipt_shows_what_the_customer_needs(client, staff, shop):
    cashier = staff()
    recharge(client, shop, "88.50", method="transfer", note="bank ref 42")
    [entry] = entries(EntryKind.CASH)
    html = client.get(f"/staff/counter/receipts/{entry.id}").get_data(as_text=True)
    # its number is the site's for the year (tests/counter/test_receipt_numbers.py), not the database id
    assert f'data-testid="receipt-no">{datetime.now(SHANGHAI).year}-000001<' in html
    assert "Riverside Mall" in html and "A101" in html and "Bakery" in html
    assert 'data-testid="receipt-amount">¥88.50<' in html
    assert 'data-testid="receipt-capitals">人民币捌拾捌元伍角整<' in html  # the amount in 大写, as a receipt writes it
    assert 'data-testid="receipt-balance">¥188.50<' in html
    assert f'data-testid="receipt-cashier">{cashier.username}<' in html
    assert entry.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") in html  # business time
    assert "bank ref 42" in html and "css/receipt.css" in html
    with client.get("/static/css/receipt.css") as sheet:  # a file: the content security policy allows no <style>
        assert "@media print" in sheet.get_data(as_text=True)


def test_a_closed_account_takes_no_recharge(client, staff, shop):
    staff()
    shop.status = AccountStatus.CLOSED
    db.session.commit()
    recharge(client, shop)
    assert entries(EntryKind.CASH) == []


# --- reversal -------------------------------------------------------------------------------------------

def test_a_reversal_is_a_new_entry_and_happens_once(client, staff, shop):
    staff()
    recharge(client, shop, "50")
    [cash] = entries(EntryKind.CASH)
    res = client.post(f"/staff/counter/receipts/{cash.id}/reverse", data={"reason": "wrong shop"})
    [rev] = entries(EntryKind.REVERSAL)
    assert res.headers["Location"] == f"/staff/counter/receipts/{rev.id}"
    assert (rev.amount_fen, rev.reverses_id, rev.memo) == (-5_000, cash.id, "wrong shop")
    assert balance(shop) == 10_000
    assert client.post(f"/staff/counter/receipts/{cash.id}/reverse", data={"reason": "again"}).status_code == 303
    assert len(entries(EntryKind.REVERSAL)) == 1
    assert (cash.amount_fen, cash.kind) == (5_000, EntryKind.CASH)  # the original is untouched
    assert ledger_mismatches(db.session) == []


def test_the_database_refuses_a_second_reversal_of_one_entry(shop):
    cash = post_entry(db.session, shop, 500, EntryKind.CASH, "cash:cash:x").entry
    post_entry(db.session, shop, -500, EntryKind.REVERSAL, "reversal:a", reverses_id=cash.id)
    with pytest.raises(IntegrityError):
        post_entry(db.session, shop, -500, EntryKind.REVERSAL, "reversal:b", reverses_id=cash.id)
    db.session.rollback()


def test_a_reversal_needs_a_reason(client, staff, shop):
    staff()
    recharge(client, shop)
    [cash] = entries(EntryKind.CASH)
    client.post(f"/staff/counter/receipts/{cash.id}/reverse", data={"reason": " "})
    assert entries(EntryKind.REVERSAL) == []


def test_a_cashier_may_not_reverse_another_cashiers_recharge(client, staff, shop, login, make_staff, site):
    staff(username="alice")
    recharge(client, shop)
    [cash] = entries(EntryKind.CASH)
    login.staff(make_staff(role=Role.CASHIER, sites=[site], username="bob"))
    assert client.post(f"/staff/counter/receipts/{cash.id}/reverse", data={"reason": "x"}).status_code == 403
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    assert client.post(f"/staff/counter/receipts/{cash.id}/reverse", data={"reason": "x"}).status_code == 303
    assert len(entries(EntryKind.REVERSAL)) == 1


def test_the_reversal_rule_same_day_cashier_or_manager(shop):
    cash = post_entry(db.session, shop, 500, EntryKind.CASH, "cash:cash:y", actor="staff:alice").entry
    tz = ZoneInfo("Asia/Shanghai")
    # 23:50 in Shanghai, and ten minutes later: the next business day
    cash.created_at = datetime(2026, 3, 1, 15, 50, tzinfo=UTC)
    same_day, next_day = cash.created_at + timedelta(minutes=5), cash.created_at + timedelta(minutes=15)
    assert ops.may_reverse(Role.CASHIER, "staff:alice", cash, tz, now=same_day)
    assert not ops.may_reverse(Role.CASHIER, "staff:alice", cash, tz, now=next_day)
    assert not ops.may_reverse(Role.CASHIER, "staff:bob", cash, tz, now=same_day)
    assert ops.may_reverse(Role.MANAGER, "staff:carol", cash, tz, now=next_day + timedelta(days=30))
    assert not ops.may_reverse(Role.OPERATOR, "staff:alice", cash, tz, now=same_day)
    energy = post_entry(db.session, shop, -100, EntryKind.ENERGY, "energy:y").entry
    assert not ops.may_reverse(Role.MANAGER, "staff:carol", energy, tz)


def test_a_recharge_already_written_into_a_meter_mode_meter_is_not_reversed(client, staff, shop, make_meter):
    meter = make_meter(account=shop, code="P101", control_mode=ControlMode.METER)
    staff()
    recharge(client, shop, "30")
    [cash] = entries(EntryKind.CASH)
    cmd = db.session.scalar(select(ControlCommand).where(ControlCommand.meter_id == meter.id))
    cmd.status = CommandStatus.APPLIED
    db.session.commit()
    client.post(f"/staff/counter/receipts/{cash.id}/reverse", data={"reason": "typo"})
    assert entries(EntryKind.REVERSAL) == []


def test_reversing_a_recharge_not_yet_written_cancels_the_purchase(client, staff, shop, make_meter):
    meter = make_meter(account=shop, code="P102", control_mode=ControlMode.METER)
    staff()
    recharge(client, shop, "30")
    [cash] = entries(EntryKind.CASH)
    client.post(f"/staff/counter/receipts/{cash.id}/reverse", data={"reason": "typo"})
    assert len(entries(EntryKind.REVERSAL)) == 1
    cmd = db.session.scalar(select(ControlCommand).where(ControlCommand.meter_id == meter.id))
    assert cmd.status == CommandStatus.SUPERSEDED


# --- refunds ----------------------------------------------------------------------------------------------

@pytest.fixture
def platform(monkeypatch):
    """The platform refund, replaced: `platform.answer` is what it says; `platform.calls` what it was asked."""

    class Fake:
        answer = RefundAnswer(True)
        calls: list = []

        def __call__(self, order, out_refund_no, amount_fen, reason):
            self.calls.append((order.out_trade_no, out_refund_no, amount_fen, reason))
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    fake = Fake()
    fake.calls = []
    monkeypatch.setattr(refunds, "platform_refund", fake)
    return fake


def ask_refund(client, order, amount="20.00", reason="moved out"):
    return client.post(f"/staff/counter/orders/{order.id}/refund", data={"amount": amount, "reason": reason})


def decide(client, refund: Refund, decision: str, **data):
    return client.post(f"/staff/counter/refunds/{refund.id}/{decision}", data=data)


def the_refund() -> Refund:
    db.session.expire_all()
    return db.session.scalars(select(Refund)).one()


def test_a_refund_is_asked_by_a_cashier_and_paid_back_on_approval(client, staff, shop, platform, login, make_staff,
                                                                  site):
    order = credited_order(shop, 5_000)
    staff()
    ask_refund(client, order, "20.00")
    refund = the_refund()
    assert (refund.status, refund.amount_fen) == (RefundStatus.REQUESTED, 2_000)
    assert entries(EntryKind.REFUND) == [] and platform.calls == []

    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    assert decide(client, refund, "approve").status_code == 303
    refund = the_refund()
    assert refund.status == RefundStatus.SUCCEEDED and refund.decided_by.startswith("staff:")
    assert platform.calls == [(order.out_trade_no, refund.out_refund_no, 2_000, "moved out")]
    [entry] = entries(EntryKind.REFUND)
    assert (entry.amount_fen, entry.idempotency_key, entry.order_id) == (-2_000, f"refund:{refund.out_refund_no}",
                                                                        order.id)
    db.session.refresh(order)
    assert (order.refunded_fen, order.status) == (2_000, OrderStatus.CREDITED)  # partly refunded
    assert balance(shop) == 13_000
    assert ledger_mismatches(db.session) == []


def test_a_full_refund_marks_the_order_refunded(shop, platform):
    order = credited_order(shop, 5_000)
    refund = refunds.request_refund(db.session, order, 5_000, "duplicate payment", "staff:c")
    refunds.approve_refund(db.session, refund, "staff:m")
    db.session.commit()
    refunds.send_refund(db.session, refund, "staff:m")
    db.session.commit()
    db.session.refresh(order)
    assert (order.refunded_fen, order.status, refund.status) == (5_000, OrderStatus.REFUNDED, RefundStatus.SUCCEEDED)


def test_the_htmx_queue_gets_the_decided_row_back(client, staff, shop, platform):
    order = credited_order(shop)
    refunds.request_refund(db.session, order, 1_000, "r", "staff:c")
    db.session.commit()
    staff(Role.MANAGER)
    refund = the_refund()
    html = client.get("/staff/counter/refunds").get_data(as_text=True)
    assert f'id="refund-{refund.id}"' in html and "act-approve" in html
    res = client.post(f"/staff/counter/refunds/{refund.id}/approve", headers={"HX-Request": "true"})
    row = res.get_data(as_text=True)
    assert row.startswith(f'<tr id="refund-{refund.id}"') and 'data-status="succeeded"' in row


def test_a_rejected_refund_moves_no_money(client, staff, shop, platform):
    order = credited_order(shop)
    refunds.request_refund(db.session, order, 1_000, "r", "staff:c")
    db.session.commit()
    staff(Role.MANAGER)
    decide(client, the_refund(), "reject", note="paid for electricity already used")
    refund = the_refund()
    assert refund.status == RefundStatus.REJECTED and "already used" in refund.error
    assert entries(EntryKind.REFUND) == [] and platform.calls == []
    assert decide(client, refund, "approve").status_code == 303  # decided: nothing more happens
    assert the_refund().status == RefundStatus.REJECTED and platform.calls == []


def test_more_than_the_payment_is_never_refunded(client, staff, shop):
    order = credited_order(shop, 5_000)
    staff()
    ask_refund(client, order, "50.01")
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0
    ask_refund(client, order, "30")
    ask_refund(client, order, "30")  # 60 asked in all, only 50 paid
    assert [r.amount_fen for r in db.session.scalars(select(Refund))] == [3_000]


def test_more_than_the_balance_is_never_refunded(shop):
    order = credited_order(shop, 5_000)
    post_entry(db.session, shop, -14_000, EntryKind.ENERGY, "energy:used")  # balance 10.00
    db.session.commit()
    with pytest.raises(refunds.RefundRefused):
        refunds.request_refund(db.session, order, 1_001, "r", "staff:c")
    refunds.request_refund(db.session, order, 1_000, "r", "staff:c")


def test_approval_checks_the_balance_again(shop, platform):
    order = credited_order(shop, 5_000)
    refund = refunds.request_refund(db.session, order, 5_000, "r", "staff:c")
    post_entry(db.session, shop, -14_000, EntryKind.ENERGY, "energy:meanwhile")
    db.session.commit()
    with pytest.raises(refunds.RefundRefused):
        refunds.approve_refund(db.session, refund, "staff:m")


def test_only_a_credited_platform_payment_can_be_refunded(shop):
    order = create_order(db.session, shop, 5_000, "alipay_wap", "t")
    with pytest.raises(refunds.RefundRefused):
        refunds.request_refund(db.session, order, 100, "r", "staff:c")


def test_a_refused_refund_is_recorded_as_failed_and_can_be_sent_again(client, staff, shop, platform):
    order = credited_order(shop)
    refunds.request_refund(db.session, order, 1_000, "r", "staff:c")
    db.session.commit()
    staff(Role.MANAGER)
    platform.answer = RefundAnswer(False, "ACQ.SELLER_BALANCE_NOT_ENOUGH")
    decide(client, the_refund(), "approve")
    refund = the_refund()
    assert refund.status == RefundStatus.FAILED and "BALANCE_NOT_ENOUGH" in refund.error
    assert entries(EntryKind.REFUND) == []
    platform.answer = RefundAnswer(True)
    decide(client, refund, "send")
    assert the_refund().status == RefundStatus.SUCCEEDED
    assert len({call[1] for call in platform.calls}) == 1  # the same request number both times
    assert len(entries(EntryKind.REFUND)) == 1


def test_a_refund_without_an_answer_stays_approved_to_be_sent_again(client, staff, shop, platform):
    order = credited_order(shop)
    refunds.request_refund(db.session, order, 1_000, "r", "staff:c")
    db.session.commit()
    staff(Role.MANAGER)
    platform.answer = TimeoutError("read timed out")
    decide(client, the_refund(), "approve")
    refund = the_refund()
    assert refund.status == RefundStatus.APPROVED and "send again" in refund.error
    assert entries(EntryKind.REFUND) == []


def test_the_dispatch_calls_alipays_refund(monkeypatch, shop):
    from portal.payments.providers.alipay import api as alipay

    calls = []
    monkeypatch.setattr(alipay, "missing", list)
    monkeypatch.setattr(alipay, "refund", lambda *args: calls.append(args) or alipay.RefundResult(True, 700))
    order = credited_order(shop, 1_000, "alipay_qr")
    assert refunds.platform_refund(order, "RF1", 700, "why") == RefundAnswer(True)
    assert calls == [(order.out_trade_no, "RF1", 700, "why")]
    monkeypatch.setattr(alipay, "refund", lambda *args: alipay.RefundResult(False, error_code="ACQ.X", error="no"))
    assert refunds.platform_refund(order, "RF1", 700, "why") == RefundAnswer(False, "ACQ.X no")


def test_the_dispatch_gives_wechat_the_order_total(monkeypatch, shop):
    from portal.payments.providers.wechat import provider as wechat
    from portal.payments.providers.wechat import v2 as wechat_v2
    from portal.payments.providers.wechat import v3 as wechat_v3

    calls = []
    module = wechat.active_api()
    monkeypatch.setattr(module, "missing", list)
    monkeypatch.setattr(module, "refund", lambda *args: calls.append(args) or {"status": "PROCESSING"})
    assert module in (wechat_v2, wechat_v3)
    order = credited_order(shop, 1_000, "wechat_native")
    assert refunds.platform_refund(order, "RF2", 400, "why") == RefundAnswer(True)
    assert calls == [(order.out_trade_no, "RF2", 400, 1_000, "why")]


def test_a_channel_not_set_up_here_records_a_failure(shop):
    with pytest.raises(ChannelUnavailable):
        configured("alipay_wap")  # no ALIPAY_* in the tests' environment
    refund = refunds.request_refund(db.session, credited_order(shop, 1_000, "alipay_wap"), 1_000, "r", "staff:c")
    refunds.approve_refund(db.session, refund, "staff:m")
    db.session.commit()
    refunds.send_refund(db.session, refund, "staff:m")
    db.session.commit()
    assert refund.status == RefundStatus.FAILED and refund.error.startswith("channel unavailable")
    assert entries(EntryKind.REFUND) == []


@pytest.mark.parametrize("role, sees_settings", [(Role.CASHIER, False), (Role.MANAGER, False), (Role.ADMIN, True)])
def test_a_refund_failed_for_a_channel_not_set_up_names_settings_to_administrators_only(client, shop, site, login,
                                                                                         make_staff, role,
                                                                                         sees_settings):
    refund = refunds.request_refund(db.session, credited_order(shop, 1_000, "alipay_wap"), 1_000, "r", "staff:c")
    refunds.approve_refund(db.session, refund, "staff:m")
    refunds.send_refund(db.session, refund, "staff:m")
    db.session.commit()
    login.staff(make_staff(role=role, sites=[] if role == Role.ADMIN else [site]))
    client.get("/auth/lang/en")
    html = client.get(f"/staff/counter/a/{shop.id}").get_data(as_text=True)
    shown = re.search(r'data-testid="refund-error">([^<]*)<', html).group(1)
    assert ("ALIPAY_" in shown) is sees_settings
    assert sees_settings or "ask an administrator" in shown


def test_a_refund_through_the_alipay_stand_in_gateway(client, staff, shop, alipay_env, login, make_staff, site):
    """The one real path: our dispatch, the Alipay module, the SDK, a gateway speaking Alipay's protocol."""
    order = credited_order(shop, 5_000, "alipay_wap")
    alipay_env.open_trade(order.out_trade_no, "50.00")
    alipay_env.pay(order.out_trade_no)
    staff()
    ask_refund(client, order, "12.34", "meter fault")
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    decide(client, the_refund(), "approve")
    refund = the_refund()
    assert refund.status == RefundStatus.SUCCEEDED, refund.error
    assert alipay_env.trades[order.out_trade_no].refunds == {refund.out_refund_no: "12.34"}
    assert [e.amount_fen for e in entries(EntryKind.REFUND)] == [-1_234]


# --- closure ----------------------------------------------------------------------------------------------

def test_closure_pays_out_the_balance_and_trips_the_meters(client, staff, shop):
    staff()
    client.post(f"/staff/counter/a/{shop.id}/close", data={"confirm": "A101", "reason": "lease ended", "key": KEY})
    res = approve_proposal(client, staff)
    [settlement] = entries(EntryKind.SETTLEMENT)
    assert res.headers["Location"] == f"/staff/counter/receipts/{settlement.id}"
    assert (settlement.amount_fen, settlement.balance_after_fen) == (-10_000, 0)
    db.session.expire_all()
    acct = db.session.get(Account, shop.id)
    assert (acct.balance_fen, acct.status) == (0, AccountStatus.CLOSED) and acct.closed_at is not None
    [meter] = acct.meters
    assert (meter.supply_desired, meter.desired_reason) == (Supply.OFF, "closure")
    assert db.session.scalar(select(ControlCommand.reason).where(ControlCommand.action == "trip")) == "closure"
    assert ledger_mismatches(db.session) == []


def test_closure_needs_the_code_typed_and_no_arrears(client, staff, shop):
    staff()
    client.post(f"/staff/counter/a/{shop.id}/close", data={"confirm": "A10"})
    post_entry(db.session, shop, -12_000, EntryKind.ENERGY, "energy:arrears")
    db.session.commit()
    client.post(f"/staff/counter/a/{shop.id}/close", data={"confirm": "A101"})
    assert entries(EntryKind.SETTLEMENT) == []
    assert db.session.get(Account, shop.id).status == AccountStatus.ACTIVE


def test_a_meter_mode_shop_is_paid_what_its_meter_still_holds(shop, make_meter):
    make_meter(account=shop, code="P103", control_mode=ControlMode.METER)
    closure = ops.close_account(db.session, shop, "moved", "staff:c", meter_remaining_fen=3_500)
    db.session.commit()
    assert closure.payout_fen == 3_500 and closure.settlement.amount_fen == -3_500
    assert balance(shop) == 0
    assert [e.amount_fen for e in entries(EntryKind.ADJUSTMENT)] == [-6_500]  # used up inside the meter


def test_a_closed_account_is_not_closed_twice(shop):
    ops.close_account(db.session, shop, "", "staff:c")
    with pytest.raises(ops.CounterError):
        ops.close_account(db.session, shop, "", "staff:c")


# --- transfer ---------------------------------------------------------------------------------------------

def test_a_transfer_is_a_pair_of_entries_and_happens_once(client, staff, shop, make_account, site):
    new = make_account(site=site, code="A102", name="Bakery (new lease)")
    staff()
    data = {"target": "A102", "amount": "60", "reason": "new lease", "key": KEY}
    client.post(f"/staff/counter/a/{shop.id}/transfer", data=data)
    client.post(f"/staff/counter/a/{shop.id}/transfer", data=data)
    approve_proposal(client, staff)
    out, into = entries(EntryKind.TRANSFER)
    assert (out.account_id, out.amount_fen, into.account_id, into.amount_fen) == (shop.id, -6_000, new.id, 6_000)
    assert (balance(shop), balance(new)) == (4_000, 6_000)


def test_a_transfer_cannot_exceed_the_balance_or_leave_the_site(client, staff, shop, make_account, site, make_site):
    make_account(site=site, code="A103")
    make_account(site=make_site("other"), code="B201")
    staff()
    client.post(f"/staff/counter/a/{shop.id}/transfer", data={"target": "A103", "amount": "100.01", "key": KEY})
    client.post(f"/staff/counter/a/{shop.id}/transfer", data={"target": "B201", "amount": "1", "key": KEY})
    assert entries(EntryKind.TRANSFER) == []


# --- meter replacement ----------------------------------------------------------------------------------

@pytest.fixture
def priced(site):
    tariff = Tariff(site_id=site.id, code="flat", name="flat")
    db.session.add(tariff)
    db.session.flush()
    db.session.add(TariffVersion(tariff_id=tariff.id, effective_from=utcnow() - timedelta(days=365),
                                 unit_price_e4=10_000))  # 1.00 yuan per kWh
    site.default_tariff_id = tariff.id
    db.session.commit()


def test_a_meter_swap_bills_the_old_meter_and_starts_the_new_one(client, staff, shop, priced):
    meter = shop.meters[0]
    db.session.add(IntervalReading(meter_id=meter.id, interval_start=utcnow() - timedelta(minutes=20),
                                   energy_total=100_000, delta=None))
    meter.state.energy_total = 100_000
    db.session.commit()
    staff()
    client.post(f"/staff/counter/meters/{meter.id}/replace",
                data={"final_reading": "1012.50", "new_code": "E101-B", "new_reading": "0.5", "key": KEY})
    approve_proposal(client, staff)
    db.session.expire_all()
    assert (meter.code, meter.purchase_count, meter.state.energy_total) == ("E101-B", 0, 50)
    [charge] = entries(EntryKind.ENERGY)
    assert charge.amount_fen == -1_250  # 12.50 kWh at 1.00 yuan
    newest = db.session.scalars(select(IntervalReading).where(IntervalReading.meter_id == meter.id)
                                .order_by(IntervalReading.interval_start.desc())).first()
    assert (newest.energy_total, newest.delta) == (50, None)  # the new register's baseline
    audit = db.session.scalar(select(AuditEntry.detail).where(AuditEntry.action == "meter.replaced"))
    assert audit["old_code"] == "E101"


def test_a_final_reading_below_the_last_one_is_refused(shop):
    meter = shop.meters[0]
    meter.state.energy_total = 5_000
    with pytest.raises(swap.SwapRefused):
        swap.replace_meter(db.session, meter, 4_000, "E9", 0, "staff:c")


def test_a_meter_mode_swap_writes_the_remaining_amount_into_the_new_meter(shop, make_meter):
    meter = make_meter(account=shop, code="P104", control_mode=ControlMode.METER,
                       state={"online": True, "energy_total": 300, "remaining_fen": 4_200, "purchase_count": 7})
    meter.purchase_count = 7
    swap.replace_meter(db.session, meter, 310, "P104-B", 0, "staff:c", remaining_fen=4_200)
    db.session.commit()
    cmd = db.session.scalar(select(ControlCommand).where(ControlCommand.meter_id == meter.id))
    assert (cmd.action, cmd.payload, meter.purchase_count) == ("purchase", {"amount_fen": 4_200}, 0)
    assert entries(EntryKind.TRANSFER) == [] and balance(shop) == 10_000  # the money never left the account


# --- daily report ---------------------------------------------------------------------------------------

def test_the_daily_report_sums_the_day_by_channel_and_method(client, staff, shop, platform):
    order = credited_order(shop, 5_000)
    refunds.complete_refund(db.session, refunds.request_refund(db.session, order, 1_000, "r", "staff:c"), "staff:m")
    db.session.commit()
    staff()
    recharge(client, shop, "100", key="a" * 32)
    recharge(client, shop, "30.50", key="b" * 32, method="transfer")
    [first, _second] = entries(EntryKind.CASH)
    client.post(f"/staff/counter/receipts/{first.id}/reverse", data={"reason": "typo"})
    html = client.get("/staff/counter/report").get_data(as_text=True)
    assert 'data-section="payment" data-detail="alipay_wap"' in html
    assert 'data-testid="report-total">¥70.50<' in html  # 50 - 10 + 100 + 30.50 - 100
    assert 'data-testid="report-drawer">¥0.00<' in html  # the cash recharge was reversed

    res = client.get("/staff/counter/report?format=csv")
    assert res.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(res.get_data(as_text=True).lstrip("\ufeff"))))
    totals = {(r[1], r[2]): r[4] for r in rows if r and r[0] == "total"}
    assert totals[("payment", "alipay_wap")] == "50.00"
    assert totals[("cash", "transfer")] == "30.50"
    assert totals[("reversal", "cash")] == "-100.00"
    assert totals[("refund", "alipay_wap")] == "-10.00"
    assert totals[("all", "")] == "70.50"


def test_the_report_of_another_day_is_empty(client, staff, shop):
    staff()
    recharge(client, shop)
    html = client.get("/staff/counter/report?day=2020-01-01").get_data(as_text=True)
    assert 'data-testid="report-total">¥0.00<' in html
    assert client.get("/staff/counter/report?day=nonsense").status_code == 400


# --- roles and sites -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/staff/counter/", "/staff/counter/a/{id}", "/staff/counter/refunds",
                                  "/staff/counter/report"])
def test_an_operator_cannot_use_the_counter(client, staff, shop, path):
    staff(Role.OPERATOR)
    assert client.get(path.format(id=shop.id)).status_code == 403
    assert recharge(client, shop).status_code == 403
    assert entries(EntryKind.CASH) == []


def test_a_cashier_cannot_approve_refunds(client, staff, shop, platform):
    order = credited_order(shop)
    refunds.request_refund(db.session, order, 1_000, "r", "staff:c")
    db.session.commit()
    staff(Role.CASHIER)
    assert decide(client, the_refund(), "approve").status_code == 403
    assert the_refund().status == RefundStatus.REQUESTED and platform.calls == []
    assert "act-approve" not in client.get("/staff/counter/refunds").get_data(as_text=True)


def test_a_cashier_of_another_site_sees_nothing_here(client, login, make_staff, make_site, shop):
    login.staff(make_staff(role=Role.CASHIER, sites=[make_site("elsewhere")]))
    assert client.get(f"/staff/counter/a/{shop.id}").status_code == 404
    assert recharge(client, shop).status_code == 404
    assert 'data-account="A101"' not in client.get("/staff/counter/?q=A101").get_data(as_text=True)


def test_the_counter_finds_a_shop_by_code_or_name(client, staff, shop):
    staff()
    html = client.get("/staff/counter/?q=bake", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.startswith('<section id="counter-results">') and 'data-account="A101"' in html


def _notice(refund: Refund, status: str, amount_fen: int | None = None):
    from portal.payments.providers.base import RefundNotice

    return RefundNotice(source="wechat_v3", out_trade_no=refund.order.out_trade_no, out_refund_no=refund.out_refund_no,
                        refund_id="R1", refund_fen=amount_fen or refund.amount_fen, status=status)


def _notify(refund: Refund, status: str, amount_fen: int | None = None):
    from portal.models import PaymentNotification

    note = PaymentNotification(source="wechat_v3", outcome=NotifyOutcome.IGNORED, raw="{}")
    db.session.add(note)
    refunds.refund_notified(db.session, _notice(refund, status, amount_fen), note)
    db.session.commit()
    return note


def _sent(shop, platform, answer: RefundAnswer) -> Refund:
    order = credited_order(shop, 5_000, "wechat_native")
    refund = refunds.request_refund(db.session, order, 2_000, "moved out", "staff:c")
    refunds.approve_refund(db.session, refund, "staff:m")
    db.session.commit()
    platform.answer = answer
    refunds.send_refund(db.session, refund, "staff:m")
    db.session.commit()
    return refund


def test_a_refund_the_platform_accepted_then_failed_gives_the_money_back_once(shop, platform):
    refund = _sent(shop, platform, RefundAnswer(True))  # booked on WeChat's PROCESSING answer
    assert balance(shop) == 13_000
    for _ in range(2):  # a notify may come twice
        note = _notify(refund, "ABNORMAL")
    assert the_refund().status == RefundStatus.FAILED and note.outcome == NotifyOutcome.ACCEPTED
    [reversal] = entries(EntryKind.REVERSAL)
    assert reversal.amount_fen == 2_000 and reversal.reverses_id == entries(EntryKind.REFUND)[0].id
    assert balance(shop) == 15_000
    db.session.refresh(refund.order)
    assert refund.order.refunded_fen == 0
    assert ledger_mismatches(db.session) == []


def test_a_success_notify_completes_a_refund_left_waiting_by_a_lost_answer(shop, platform):
    refund = _sent(shop, platform, TimeoutError("no answer"))
    assert the_refund().status == RefundStatus.APPROVED and entries(EntryKind.REFUND) == []
    _notify(refund, "SUCCESS")
    _notify(refund, "SUCCESS")
    assert the_refund().status == RefundStatus.SUCCEEDED
    assert [e.amount_fen for e in entries(EntryKind.REFUND)] == [-2_000]


def test_a_refund_notify_for_another_amount_is_an_anomaly_and_moves_nothing(shop, platform):
    refund = _sent(shop, platform, TimeoutError("no answer"))
    note = _notify(refund, "SUCCESS", amount_fen=9_999)
    assert note.outcome == NotifyOutcome.ANOMALY and entries(EntryKind.REFUND) == []


def test_a_counter_recharge_cannot_take_the_balance_above_the_sites_limit(client, staff, shop, site):
    site.max_balance_fen = 20_000
    db.session.commit()
    staff()
    recharge(client, shop, "150.00")
    assert entries(EntryKind.CASH) == [] and balance(shop) == 10_000  # refused: 250.00 > 200.00
    recharge(client, shop, "100.00", key="a" * 32)
    assert balance(shop) == 20_000


def test_a_meter_swap_waits_for_a_poll_cycle_on_its_bus(app, shop, priced):
    """A cycle in flight would bill the old register once more: the swap takes the bus after it."""
    import threading

    from portal.metering.rows import lock_buses

    meter = shop.meters[0]
    meter.state.energy_total = 100_000
    db.session.commit()
    meter_id, gateway_id = meter.id, meter.gateway_id
    done = threading.Event()

    def replace() -> None:
        with app.app_context():
            m = db.session.get(type(meter), meter_id)
            swap.replace_meter(db.session, m, 100_500, "E101-B", 0, "staff:c")
            db.session.commit()
            done.set()
            db.session.remove()

    with db.engine.connect() as cycle:  # a poll cycle of the meter's gateway, not yet committed
        from sqlalchemy.orm import Session

        with Session(cycle) as s:
            lock_buses(s, [gateway_id])
            t = threading.Thread(target=replace)
            t.start()
            assert not done.wait(0.5)  # the swap waits for the bus
            s.commit()
    t.join(10)
    assert done.is_set()
