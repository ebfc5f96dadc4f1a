"""Two people for big money: a cashier proposes at the counter, a manager who is not the proposer decides."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from portal.approvals import decisions, proposals
from portal.extensions import db
from portal.ledger.entries import ledger_mismatches, post_entry
from portal.models import (
    Account,
    AccountStatus,
    EntryKind,
    Proposal,
    ProposalKind,
    ProposalStatus,
    Role,
)
from tests.approvals.conftest import audits, balance, entries, new_key
from tests.approvals.conftest import proposals as all_proposals


def propose_transfer(client, shop, target="A102", amount="60", key=None):
    return client.post(f"/staff/counter/a/{shop.id}/transfer",
                       data={"target": target, "amount": amount, "reason": "new lease", "key": key or new_key()})


def decide(client, proposal: Proposal, decision: str, htmx: bool = False, **data):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/staff/approvals/{proposal.id}/{decision}", data=data, headers=headers)


@pytest.fixture
def other(site, make_account):
    return make_account(site=site, code="A102", name="Bakery (new lease)")


# --- proposing moves nothing ------------------------------------------------------------------------------

def test_a_transfer_is_proposed_and_moves_nothing_until_a_manager_approves(client, staff, shop, other):
    cashier = staff(username="alice")
    res = propose_transfer(client, shop)
    [proposal] = all_proposals()
    assert res.status_code == 303 and res.headers["Location"].endswith(f"/staff/counter/a/{shop.id}")
    assert (proposal.kind, proposal.status, proposal.amount_fen, proposal.proposed_by) == (
        ProposalKind.TRANSFER, ProposalStatus.PROPOSED, 6_000, cashier.actor)
    assert entries(EntryKind.TRANSFER) == [] and balance(shop) == 10_000

    manager = staff(Role.MANAGER, username="mary")
    assert decide(client, proposal, "approve").status_code == 303
    out, into = entries(EntryKind.TRANSFER)
    assert (balance(shop), balance(other)) == (4_000, 6_000)
    assert {(e.actor, e.approved_by) for e in (out, into)} == {(cashier.actor, manager.actor)}
    [proposal] = all_proposals()
    assert (proposal.status, proposal.decided_by, proposal.result["entry"]) == (
        ProposalStatus.APPROVED, manager.actor, out.id)


def test_the_audit_of_an_approved_operation_names_both_people(client, staff, shop, other):
    cashier = staff()
    propose_transfer(client, shop)
    manager = staff(Role.MANAGER)
    decide(client, all_proposals()[0], "approve")
    [moved] = audits("counter.transfer")
    assert moved.actor == cashier.actor
    assert (moved.detail["proposed_by"], moved.detail["approved_by"]) == (cashier.actor, manager.actor)
    [approval] = audits("proposal.approved")
    assert approval.actor == manager.actor and approval.detail["proposal"] == all_proposals()[0].id


def test_a_form_sent_twice_proposes_once(client, staff, shop, other):
    staff()
    key = new_key()
    propose_transfer(client, shop, key=key)
    propose_transfer(client, shop, key=key)
    assert len(all_proposals()) == 1


def test_what_the_operation_would_refuse_is_refused_when_proposed(client, staff, shop, other):
    staff()
    propose_transfer(client, shop, amount="100.01")  # more than the balance
    client.post(f"/staff/counter/a/{shop.id}/adjust", data={"amount": "5", "reason": " ", "key": new_key()})
    client.post(f"/staff/counter/a/{shop.id}/close", data={"confirm": "A101", "key": "not-a-key"})
    assert all_proposals() == []
    html = client.get(f"/staff/counter/a/{shop.id}").get_data(as_text=True)
    assert "This form has expired" in html


# --- who decides ------------------------------------------------------------------------------------------

def test_the_proposer_cannot_approve_their_own_proposal(client, staff, shop, other):
    manager = staff(Role.MANAGER)
    propose_transfer(client, shop)
    [proposal] = all_proposals()
    res = decide(client, proposal, "approve", htmx=True)
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and html.startswith(f'<tr id="proposal-{proposal.id}"')  # the row, with the error
    assert 'role="alert"' in html and "another manager" in html
    assert all_proposals()[0].status == ProposalStatus.PROPOSED and entries(EntryKind.TRANSFER) == []
    assert "act-approve" not in client.get("/staff/approvals").get_data(as_text=True)
    assert manager.actor == proposal.proposed_by
    assert decide(client, proposal, "reject").status_code == 303  # nor reject it: withdrawing is theirs
    assert all_proposals()[0].status == ProposalStatus.PROPOSED


def test_the_database_keeps_the_two_people_apart(shop):
    proposal = proposals.propose_adjustment(db.session, shop, 500, "meter fault", "staff:alice", new_key())
    db.session.flush()
    proposal.decided_by = "staff:alice"
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_cashier_cannot_decide(client, staff, shop, other):
    staff()
    propose_transfer(client, shop)
    staff(username="bob")  # another cashier
    assert decide(client, all_proposals()[0], "approve").status_code == 403
    assert decide(client, all_proposals()[0], "reject").status_code == 403
    assert all_proposals()[0].status == ProposalStatus.PROPOSED


def test_a_rejection_keeps_its_note_and_moves_nothing(client, staff, shop, other):
    staff()
    propose_transfer(client, shop)
    staff(Role.MANAGER)
    decide(client, all_proposals()[0], "reject", note="wrong shop")
    [proposal] = all_proposals()
    assert (proposal.status, proposal.note) == (ProposalStatus.REJECTED, "wrong shop")
    assert decide(client, proposal, "approve").status_code == 303  # decided: nothing more happens
    assert all_proposals()[0].status == ProposalStatus.REJECTED and entries(EntryKind.TRANSFER) == []


def test_only_the_proposer_withdraws(client, staff, shop, other, login):
    alice = staff(username="alice")
    propose_transfer(client, shop)
    [proposal] = all_proposals()
    staff(Role.MANAGER)
    client.post(f"/staff/approvals/{proposal.id}/withdraw")
    assert all_proposals()[0].status == ProposalStatus.PROPOSED
    login.staff(alice)
    assert 'data-testid="own-proposal"' in client.get("/staff/approvals").get_data(as_text=True)
    client.post(f"/staff/approvals/{proposal.id}/withdraw")
    assert all_proposals()[0].status == ProposalStatus.WITHDRAWN and entries(EntryKind.TRANSFER) == []


def test_an_approval_the_balance_no_longer_covers_is_refused_and_stays_open(client, staff, shop, other):
    staff()
    propose_transfer(client, shop, amount="80")
    post_entry(db.session, shop, -5_000, EntryKind.ENERGY, "energy:meanwhile")
    db.session.commit()
    staff(Role.MANAGER)
    decide(client, all_proposals()[0], "approve")
    [proposal] = all_proposals()
    assert proposal.status == ProposalStatus.PROPOSED and "can be transferred" in proposal.error
    assert entries(EntryKind.TRANSFER) == [] and ledger_mismatches(db.session) == []


def test_a_manager_of_another_site_sees_nothing_of_it(client, staff, shop, other, login, make_staff, make_site):
    staff()
    propose_transfer(client, shop)
    login.staff(make_staff(role=Role.MANAGER, sites=[make_site("elsewhere")]))
    assert 'id="proposal-' not in client.get("/staff/approvals").get_data(as_text=True)
    assert decide(client, all_proposals()[0], "approve").status_code == 404


def test_a_cashier_sees_their_own_proposals_and_a_manager_the_sites(client, staff, shop, other):
    staff(username="alice")
    propose_transfer(client, shop)
    staff(username="bob")
    propose_transfer(client, shop, amount="1")
    mine = client.get("/staff/approvals").get_data(as_text=True)
    alices, bobs = all_proposals()
    assert f'id="proposal-{bobs.id}"' in mine and f'id="proposal-{alices.id}"' not in mine
    staff(Role.MANAGER)
    queue = client.get("/staff/approvals").get_data(as_text=True)
    assert f'id="proposal-{bobs.id}"' in queue and f'id="proposal-{alices.id}"' in queue
    assert queue.count("act-approve") == 2


# --- each operation, approved --------------------------------------------------------------------------------

def test_an_approved_closure_pays_out_to_the_receipt_and_closes(client, staff, shop):
    cashier = staff()
    client.post(f"/staff/counter/a/{shop.id}/close", data={"confirm": "A101", "reason": "lease ended",
                                                            "key": new_key()})
    [proposal] = all_proposals()
    assert (proposal.kind, proposal.amount_fen) == (ProposalKind.CLOSURE, 10_000)  # the payout it would make
    assert db.session.get(Account, shop.id).status == AccountStatus.ACTIVE
    manager = staff(Role.MANAGER)
    res = decide(client, proposal, "approve")
    [settlement] = entries(EntryKind.SETTLEMENT)
    assert res.headers["Location"] == f"/staff/counter/receipts/{settlement.id}"
    assert (settlement.actor, settlement.approved_by) == (cashier.actor, manager.actor)
    assert db.session.get(Account, shop.id).status == AccountStatus.CLOSED


def test_a_manual_adjustment_credits_or_debits_with_its_reason(client, staff, shop):
    cashier = staff()
    client.post(f"/staff/counter/a/{shop.id}/adjust", data={"amount": "12.50", "direction": "debit",
                                                             "reason": "fee charged twice", "key": new_key()})
    client.post(f"/staff/counter/a/{shop.id}/adjust", data={"amount": "3", "direction": "credit",
                                                             "reason": "meter fault", "key": new_key()})
    debit, credit = all_proposals()
    assert (debit.amount_fen, credit.amount_fen) == (-1_250, 300)
    manager = staff(Role.MANAGER)
    receipt = decide(client, debit, "approve").headers["Location"]
    decide(client, credit, "approve")
    html = client.get(receipt).get_data(as_text=True)
    assert f'data-testid="receipt-approver">{manager.username}<' in html and "Manual adjustment" in html
    rows = [(e.amount_fen, e.memo, e.actor, e.approved_by) for e in entries(EntryKind.ADJUSTMENT)]
    assert rows == [(-1_250, "fee charged twice", cashier.actor, manager.actor),
                    (300, "meter fault", cashier.actor, manager.actor)]
    assert balance(shop) == 9_050 and ledger_mismatches(db.session) == []


def test_a_debit_adjustment_into_arrears_trips_supply(shop):
    proposal = proposals.propose_adjustment(db.session, shop, -12_000, "double billing reversed", "staff:c",
                                            new_key())
    decisions.approve(db.session, proposal, "staff:m")
    db.session.commit()
    db.session.expire_all()
    assert balance(shop) == -2_000
    assert db.session.get(Account, shop.id).meters[0].supply_desired.value == "off"


# --- counter recharges above the site's limit -----------------------------------------------------------------

def recharge(client, shop, amount, key=None, method="cash"):
    return client.post(f"/staff/counter/a/{shop.id}/recharge",
                       data={"amount": amount, "method": method, "note": "", "key": key or new_key()})


def test_a_recharge_up_to_the_limit_posts_and_above_it_waits(client, staff, shop, site):
    site.counter_limit_fen = 50_000
    db.session.commit()
    cashier = staff()
    recharge(client, shop, "500.00")
    res = recharge(client, shop, "500.01")
    assert [e.amount_fen for e in entries(EntryKind.CASH)] == [50_000]
    [proposal] = all_proposals()
    assert (proposal.kind, proposal.amount_fen) == (ProposalKind.RECHARGE, 50_001)
    assert "waiting for a manager" in client.get(res.headers["Location"]).get_data(as_text=True)

    manager = staff(Role.MANAGER)
    res = decide(client, proposal, "approve")
    first, second = entries(EntryKind.CASH)
    assert res.headers["Location"] == f"/staff/counter/receipts/{second.id}"
    assert (second.amount_fen, second.actor, second.approved_by, second.method) == (
        50_001, cashier.actor, manager.actor, "cash")
    assert first.approved_by is None


def test_a_cashier_does_not_reverse_a_recharge_a_manager_approved(client, staff, shop, site, login):
    site.counter_limit_fen = 100
    db.session.commit()
    alice = staff(username="alice")
    recharge(client, shop, "5.00")
    staff(Role.MANAGER)
    decide(client, all_proposals()[0], "approve")
    [cash] = entries(EntryKind.CASH)
    login.staff(alice)
    assert client.post(f"/staff/counter/receipts/{cash.id}/reverse", data={"reason": "typo"}).status_code == 403


def test_the_rules_page_sets_the_counter_limit(client, staff, site):
    staff(Role.MANAGER)
    res = client.post(f"/staff/sites/{site.id}/approval-limit", data={"counter_limit": "2000"},
                      headers={"HX-Request": "true"})
    assert res.status_code == 200 and res.get_data(as_text=True).lstrip().startswith('<section id="approvals"')
    db.session.expire_all()
    assert site.counter_limit_fen == 200_000
    refused = client.post(f"/staff/sites/{site.id}/approval-limit", data={"counter_limit": "0"},
                          headers={"HX-Request": "true"})
    assert refused.status_code == 200 and 'role="alert"' in refused.get_data(as_text=True)
    client.post(f"/staff/sites/{site.id}/approval-limit", data={"counter_limit": ""})
    db.session.expire_all()
    assert site.counter_limit_fen is None
    assert 'name="counter_limit"' in client.get(f"/staff/sites/{site.id}/rules").get_data(as_text=True)


def test_a_cashier_cannot_set_the_counter_limit(client, staff, site):
    staff()
    assert client.post(f"/staff/sites/{site.id}/approval-limit", data={"counter_limit": "1"}).status_code == 403
