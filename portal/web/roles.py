"""Who may do what in the staff area: one table of areas and meter commands by role, read by every check.

The views' `require_area` (portal.web.access), the staff navigation and the meter commands of the staff list
and of the API all read these tables, so a role's reach is changed in one place. Admins pass every check.
Auditors open every page (an area with a link) and change nothing: `may_change` is false for them, and the
staff blueprint and the API refuse their every request that is not a read, whatever the view.
The dashboard (the staff area's home) is open to every staff role, scoped to their sites, and has no entry.
"""
from __future__ import annotations

from typing import NamedTuple

from flask_babel import lazy_gettext as _l

from portal.models import Role


class Area(NamedTuple):
    """A part of the staff area: who may open it, and its link in the navigation (none: not in it)."""

    roles: frozenset[Role]
    endpoint: str | None = None
    title: str | None = None


#: the staff areas, in the navigation's order
AREAS: dict[str, Area] = {
    # the meter list and its commands (which command a role may send: COMMANDS below): every staff role
    "meters": Area(frozenset({Role.OPERATOR, Role.CASHIER, Role.MANAGER}), "staff.meters", _l("Meters")),
    "alarms": Area(frozenset({Role.OPERATOR, Role.CASHIER, Role.MANAGER}), "staff.alarms", _l("Alarms")),
    "counter": Area(frozenset({Role.CASHIER, Role.MANAGER}), "staff.counter", _l("Counter")),
    # maker-checker: cashiers and electricians see what they proposed (money; keep-power), and may withdraw it;
    # managers see the site's whole queue
    "approvals": Area(frozenset({Role.OPERATOR, Role.CASHIER, Role.MANAGER}), "staff.approvals", _l("Approvals")),
    # invoice requests (发票, portal.staff.invoices): those who handle the money issue them; auditors read
    "invoices": Area(frozenset({Role.CASHIER, Role.MANAGER}), "staff.invoices", _l("Invoices")),
    "monthly": Area(frozenset({Role.MANAGER}), "staff.billing", _l("Fees and allocation")),
    # the month's energy and its spreadsheets (portal.staff.reports): managers; auditors read
    "reports": Area(frozenset({Role.MANAGER}), "staff.reports", _l("Reports")),
    # the shops' printed monthly bills (portal.staff.bills): cashiers and managers print them, auditors read them;
    # reached from the reports' tabs, the counter and a shop's page. A binding code on a bill is issued by those of
    # "account_binding_codes" below
    "bills": Area(frozenset({Role.CASHIER, Role.MANAGER, Role.AUDITOR})),
    "tariffs": Area(frozenset({Role.MANAGER}), "staff.tariffs_index", _l("Tariffs")),
    "rules": Area(frozenset({Role.MANAGER}), "staff.rules_index", _l("Balance rules")),
    # the site workbook: template, upload, preview, commit, export; managers for their own sites (portal.staff.imports)
    "import": Area(frozenset({Role.MANAGER}), "staff.imports", _l("Import")),
    # staff users and their API tokens: administrators only (an auditor reads the lists)
    "users": Area(frozenset(), "staff.users", _l("Users")),
    "api_tokens": Area(frozenset(), "staff.api_tokens", _l("API tokens")),
    # who did what (portal.staff.audit): managers their sites' entries; auditors, like admins, open it too
    "audit": Area(frozenset({Role.MANAGER}), "staff.audit_log", _l("Audit log")),
    # what was sent to whom (portal.staff.notifications): the delivery log, the templates and the demo's messages
    # for electricians and managers (auditors read); not the counter's business
    "notifications": Area(frozenset({Role.OPERATOR, Role.MANAGER}), "staff.notifications", _l("Notifications")),
    # a site's staff recipients: managers keep them (auditors read them); sending a message again is a manager's
    "notify_recipients": Area(frozenset({Role.MANAGER, Role.AUDITOR})),
    "notify_manage": Area(frozenset({Role.MANAGER})),
    # phone numbers and openids in the delivery log: whole for those who keep the recipients, else 139****0001
    "notify_numbers": Area(frozenset({Role.MANAGER})),
    # approving or rejecting what another person proposed (portal.approvals), and the refunds a cashier asked for
    "approval_decisions": Area(frozenset({Role.MANAGER})),
    "refund_decisions": Area(frozenset({Role.MANAGER})),
    # one shop's page (/staff/accounts/<code>): every staff role reads it and keeps notes on it; it is reached from
    # the counter's search, the meter list and the alarms, so it has no link of its own
    "accounts": Area(frozenset({Role.OPERATOR, Role.CASHIER, Role.MANAGER, Role.AUDITOR})),
    # on it: the shop's own property-fee rate and who of its tenants sees it are a manager's; emergency credit
    # for a tenant who calls is given by whoever handles the shop's money at the counter
    "account_fees": Area(frozenset({Role.MANAGER})),
    "account_bindings": Area(frozenset({Role.MANAGER})),
    # a new binding code for the shop (the printed one stops working): a manager's, like its bindings
    "account_binding_codes": Area(frozenset({Role.MANAGER})),
    "account_emergency": Area(frozenset({Role.CASHIER, Role.MANAGER})),
    # a meter's settings (its power limit) on the meter page
    "meter_settings": Area(frozenset({Role.MANAGER})),
    # asking for keep-power (保电) for a manager to approve; who grants it at once is COMMANDS["keep_power_on"]
    "keep_power_requests": Area(frozenset({Role.OPERATOR})),
}

#: meter commands: switching is for electricians and managers; keep-power (保电) needs a manager
COMMANDS: dict[str, frozenset[Role]] = {
    "trip": frozenset({Role.OPERATOR, Role.MANAGER}),
    "close": frozenset({Role.OPERATOR, Role.MANAGER}),
    "keep_power_on": frozenset({Role.MANAGER}),
    "keep_power_off": frozenset({Role.MANAGER}),
}


#: roles that read and never write
READ_ONLY: frozenset[Role] = frozenset({Role.AUDITOR})
#: the HTTP methods that read
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def may_open(role: Role, area: str) -> bool:
    """Whether a staff role may open an area of AREAS (an auditor: every area that is a page, and those that name
    auditors, such as a page without a link)."""
    if role in READ_ONLY:
        return AREAS[area].endpoint is not None or role in AREAS[area].roles
    return role == Role.ADMIN or role in AREAS[area].roles


def may_change(role: Role) -> bool:
    """Whether a staff role may change anything at all (an auditor may not)."""
    return role not in READ_ONLY


def may_send(role: Role, method: str) -> bool:
    """Whether a request with this HTTP method is one this role may make: reads always, writes if it may change."""
    return method in READS or may_change(role)


def may_command(role: Role, action: str) -> bool:
    """Whether a staff role may send this meter command (an unknown command: no one may)."""
    return action in COMMANDS and (role == Role.ADMIN or role in COMMANDS[action])


def commands_for(role: Role) -> list[str]:
    """The meter commands a staff role may send, in COMMANDS' order."""
    return [action for action in COMMANDS if may_command(role, action)]


def navigation(role: Role) -> list[Area]:
    """The areas with a navigation link that this role may open, in AREAS' order."""
    return [area for name, area in AREAS.items() if area.endpoint and may_open(role, name)]
