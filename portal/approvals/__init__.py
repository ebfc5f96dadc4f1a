"""Approvals (maker-checker, 两人复核): big money needs two people, one who asks and a manager who approves.

A cashier proposes (`proposals`): an account closure with its pay-out, a balance transfer, a manual adjustment,
a meter replacement (its final reading bounded by what the meter can have measured: `readings`), a counter
recharge above the site's limit; an electrician asks for keep-power (保电, portal.control.keep_power). Each is
checked at once and kept as a `Proposal` (proposed → approved | rejected | withdrawn). A manager who is not the
proposer decides (`decisions`): approving runs the operation of `portal.counter`, `portal.metering` or
`portal.control` in the approver's own transaction, and its ledger entries and audit records name both people.
Refunds of platform payments are maker-checker too, in their own states (`portal.payments.refunds`);
the staff page `/staff/approvals` shows both queues.
"""
