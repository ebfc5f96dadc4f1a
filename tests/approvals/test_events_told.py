"""A proposal waiting for a manager is told to the site's staff once: what it is, for which shop, and who asked."""
from __future__ import annotations

from portal.approvals import decisions, proposals
from portal.extensions import db
from tests.approvals.conftest import new_key
from tests.notify.told import on_duty, told


def test_a_recharge_above_the_counter_limit_is_told_as_waiting_once(site, shop):
    site.counter_limit_fen = 100_000
    on_duty(site)
    key = new_key()

    done = proposals.recharge(db.session, shop, 500_000, "cash", "", "staff:cashier1", key)
    db.session.commit()
    proposals.recharge(db.session, shop, 500_000, "cash", "", "staff:cashier1", key)  # the form again
    db.session.commit()

    [sms] = told("approval_waiting")
    assert sms.dedupe_key.startswith(f"approval_waiting:proposal:{done.proposal.id}:")
    assert (sms.audience.value, sms.account_id) == ("staff", shop.id)
    assert sms.params == {"site": "mall", "what": "A101 的柜台充值 ¥5000.00", "by": "cashier1"}
    assert "cashier1 提交的A101 的柜台充值 ¥5000.00等待复核" in sms.text


def test_a_manual_debit_is_told_with_its_amount_and_approving_it_tells_nothing_more(site, shop):
    on_duty(site)
    proposal = proposals.propose_adjustment(db.session, shop, -2_500, "meter misread", "staff:cashier1", new_key())
    db.session.commit()

    decisions.approve(db.session, proposal, "staff:manager1")
    db.session.commit()

    assert [d.params["what"] for d in told("approval_waiting")] == ["A101 的手工调账 ¥25.00"]


def test_a_site_without_staff_recipients_is_told_nothing(site, shop):
    proposals.propose_adjustment(db.session, shop, 1_000, "goodwill", "staff:cashier1", new_key())
    db.session.commit()

    assert told("approval_waiting") == []
