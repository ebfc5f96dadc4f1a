"""Staff area: the property office's pages, each module a screen, all behind one access check.

`blueprint` checks the staff session for every route; `accounts` (one shop's page, its ledger in `account_ledger`
and its forms in `account_forms`), `dashboard` (the home page's figures), `meters` (the
meter list and commands), `alarms` (open and past alarms, acknowledged with a note), `counter`
and `refunds` (the cashier's counter), `approvals` (the maker-checker queue), `monthly` (fees, allocation,
line loss, statements; `billing_groups` and `billing_runs`: allocation groups, runs started from the page),
`tariffs` and `rules` (balance rules and the no-trip calendar), `users` and `api_tokens`
(staff users and their tokens, for administrators), `imports` (the site workbook: template, upload, preview,
commit, export), `reports` (the reports' overview, tabs and spreadsheets; each other report a `report_*`
module: `report_shops` and `report_common`, energy per shop and per common meter, drawn by `report_charts`;
`report_statement`, the month's energy and money per shop; `report_sales`, by day, channel and cashier;
`report_loss`, line loss; `report_reconciliation`, the platforms' bills against our orders), `invoices`
(tenants' invoice requests, 发票), `audit` (the audit log), `stickers` (a site's printable meter-box sticker
sheets), `bills` (the shops' printable monthly bills) and `notifications` (the delivery log, sending a message
again, the demo's messages; its other tabs `notify_templates` and `notify_recipients`, whose forms are
`notify_forms`) register their routes on it.
The meter list's filters are `meter_filters`; one meter's page is `meter_page` (its chart: `meter_chart`).
"""
from portal.staff import (  # noqa: F401  (routes register on bp)
    account_forms,
    accounts,
    alarms,
    api_tokens,
    approvals,
    audit,
    billing_groups,
    billing_runs,
    bills,
    counter,
    dashboard,
    imports,
    invoices,
    meter_page,
    meters,
    monthly,
    notifications,
    notify_recipients,
    notify_templates,
    refunds,
    report_common,
    report_loss,
    report_reconciliation,
    report_sales,
    report_shops,
    report_statement,
    reports,
    rules,
    stickers,
    tariffs,
    users,
)
from portal.staff.blueprint import bp

__all__ = ["bp"]
