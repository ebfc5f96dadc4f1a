"""The audit log's actions in the reader's language: one table, read by the audit page's labels and its filter.

The codes are what portal.audit's callers write (`meter.trip`, `counter.recharge`...). An action missing here is
shown as its code, so a new caller never breaks the page; add it here to give it words and a place in the filter.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: action code -> its words, grouped by what it acts on (the filter lists them in this order)
ACTIONS = {
    # the counter and maker-checker
    "counter.recharge": _l("Counter recharge"),
    "counter.reversal": _l("Counter recharge reversed"),
    "counter.transfer": _l("Balance transfer"),
    "counter.adjustment": _l("Manual adjustment"),
    "counter.closure": _l("Account closed"),
    "proposal.proposed": _l("Proposal made"),
    "proposal.approved": _l("Proposal approved"),
    "proposal.rejected": _l("Proposal rejected"),
    "proposal.withdrawn": _l("Proposal withdrawn"),
    "proposal.refused": _l("Approved proposal could not run"),
    # payments and refunds
    "order.created": _l("Payment order created"),
    "order.pay_started": _l("Payment started"),
    "order.closed": _l("Payment order closed"),
    "order.credit_from_bill": _l("Payment credited from the platform's bill"),
    "bills.download": _l("Platform bills downloaded again"),
    "payment.held": _l("Payment held"),
    "refund.requested": _l("Refund requested"),
    "refund.approved": _l("Refund approved"),
    "refund.rejected": _l("Refund rejected"),
    "refund.succeeded": _l("Refund paid"),
    "refund.failed": _l("Refund failed"),
    "refund.unanswered": _l("Refund unanswered"),
    "refund.reversed": _l("Refund reversed"),
    "invoice.requested": _l("Invoice requested"),
    "invoice.issued": _l("Invoice issued"),
    # shops
    "account.emergency_credit": _l("Emergency credit taken"),
    "account.emergency_owed_repaid": _l("Emergency credit repaid"),
    "account.fee_arrears_repaid": _l("Fee arrears repaid"),
    "account.arrears_warned": _l("Arrears warning"),
    "account.exempt_on": _l("Shop exempted from trips"),
    "account.exempt_off": _l("Shop exemption ended"),
    "account.fee_override": _l("Shop's own property fee changed"),
    "account.note_added": _l("Note added to shop"),
    "tenant.wechat_bound": _l("WeChat bound to shop"),
    "tenant.binding_revoked": _l("Tenant's access to shop revoked"),
    "account.binding_code_issued": _l("Binding code issued"),
    "stickers.printed": _l("Sticker sheet printed with binding codes"),
    "shop_bills.printed": _l("Monthly bills printed with binding codes"),
    # meters
    "meter.trip": _l("Supply switched off"),
    "meter.close": _l("Supply switched on"),
    "meter.keep_power_on": _l("Keep-power on"),
    "meter.keep_power_off": _l("Keep-power off"),
    "meter.keep_power_expired": _l("Keep-power ended by itself"),
    "meter.power_limit": _l("Power limit changed"),
    "meter.arrears": _l("Supply off for arrears"),
    "meter.restored": _l("Supply restored"),
    "meter.over_power": _l("Tripped over the power limit"),
    "meter.purchase_queued": _l("Purchase queued for the meter"),
    "meter.deduction_queued": _l("Deduction queued for the meter"),
    "meter.purchase_written": _l("Purchase written to the meter"),
    "meter.deduction_written": _l("Deduction written to the meter"),
    "meter.replaced": _l("Meter replaced"),
    "meter.tariff.assign": _l("Meter tariff changed"),
    # sites and tariffs
    "site.balance_rules": _l("Balance rules changed"),
    "site.counter_limit": _l("Counter approval limit changed"),
    "site.fee_settings": _l("Property fee settings changed"),
    "site.default_tariff": _l("Default tariff changed"),
    "site.no_trip_window_added": _l("No-trip window added"),
    "site.no_trip_window_removed": _l("No-trip window removed"),
    "site.calendar_day_set": _l("Calendar day set"),
    "site.calendar_day_removed": _l("Calendar day removed"),
    "fees.run": _l("Property fees run"),
    "allocation.run": _l("Common-area allocation run"),
    "allocation_group.created": _l("Allocation group created"),
    "allocation_group.changed": _l("Allocation group changed"),
    "allocation_group.deleted": _l("Allocation group deleted"),
    "allocation_group.member_added": _l("Shop added to an allocation group"),
    "allocation_group.member_removed": _l("Shop removed from an allocation group"),
    "allocation_group.share_changed": _l("Allocation share changed"),
    "allocation_group.source_added": _l("Common meter added to an allocation group"),
    "allocation_group.source_removed": _l("Common meter removed from an allocation group"),
    "meter.master_set": _l("Master meter changed"),
    "tariff.create": _l("Tariff created"),
    "tariff.version.add": _l("Tariff price version added"),
    "site_import.checked": _l("Site workbook uploaded and checked"),
    "site_import.committed": _l("Site import started"),
    "site_import.done": _l("Site import done"),
    "site_import.failed": _l("Site import failed"),
    # staff users, their tokens, alarms
    "staff_user.created": _l("Staff user created"),
    "staff_user.access_changed": _l("Staff role or sites changed"),
    "staff_user.activated": _l("Staff user switched on"),
    "staff_user.deactivated": _l("Staff user switched off"),
    "staff_user.password_reset": _l("Staff password reset"),
    "staff_user.password_changed": _l("Staff password changed"),
    "api_token.created": _l("API token created"),
    "api_token.revoked": _l("API token revoked"),
    "alarm.acknowledged": _l("Alarm acknowledged"),
    # notifications: a message queued again, a site's staff recipients
    "delivery.sent_again": _l("Message sent again"),
    "notify_recipient.created": _l("Notification recipient added"),
    "notify_recipient.changed": _l("Notification recipient changed"),
    "notify_recipient.deactivated": _l("Notification recipient switched off"),
    "notify_recipient.activated": _l("Notification recipient switched on"),
}

#: what an entry acts on -> its words
TARGETS = {
    "account": _l("Shop"),
    "meter": _l("Meter"),
    "site": _l("Site"),
    "tariff": _l("Tariff"),
    "allocation_group": _l("Allocation group"),
    "ledger_entry": _l("Ledger entry"),
    "payment_order": _l("Payment order"),
    "refund": _l("Refund"),
    "invoice_request": _l("Invoice request"),
    "proposal": _l("Proposal"),
    "staff_user": _l("Staff user"),
    "api_token": _l("API token"),
    "alarm": _l("Alarm"),
    "site_import": _l("Site import"),
    "delivery": _l("Message"),
    "notify_recipient": _l("Notification recipient"),
}


def action_label(code: str) -> str:
    """The words for an action code in the reader's language; an unknown code as it is."""
    return str(ACTIONS[code]) if code in ACTIONS else code


def target_label(target_type: str) -> str:
    """The words for what an entry acts on; an unknown kind as it is."""
    return str(TARGETS[target_type]) if target_type in TARGETS else target_type
