"""The queues and the jobs that domain code asks for by name.

Domain code never imports the worker (which imports drivers and Modbus): it enqueues a `JobRef` from
this list. The contract test `tests/test_contracts.py` checks that every name resolves to a job of
`worker.jobs` on the queue written here.
"""
from __future__ import annotations

from typing import NamedTuple

#: queues by the kind of work; "sms_modem" is the GSM modem's own (one modem, one sender at a time): its worker
#: runs on the machine the modem is plugged into, as "polling" and "control" run where the gateways are reached
QUEUES = ("payments", "control", "polling", "notify", "reports", "sms_modem")


class JobRef(NamedTuple):
    """A job by its dotted name, and the queue it runs on."""

    name: str
    queue: str


#: credit a paid order (payments.notify, the recovery sweep)
CREDIT_ORDER = JobRef("worker.jobs.payments.credit_order", "payments")
#: poll one gateway at once (after a command, a balance rule, a meter swap)
POLL_GATEWAY = JobRef("worker.jobs.polling.poll_gateway_job", "polling")
#: commit a checked site workbook (the import page); long, rare office work like the monthly runs: "reports"
IMPORT_SITE = JobRef("worker.jobs.imports.commit_site_import", "reports")

#: download a day's bills again and reconcile it (the reconciliation results page; the cron runs it daily)
RECONCILE_DAY = JobRef("worker.jobs.payments.daily_reconciliation", "reports")

#: send the deliveries that are due (after a transaction that queued some, and each minute); the GSM modem's are
#: sent by a job of its own queue, on the machine the modem is plugged into
SEND_NOTIFICATIONS = JobRef("worker.jobs.notify.send_notifications", "notify")
SEND_MODEM_NOTIFICATIONS = JobRef("worker.jobs.notify.send_modem_notifications", "sms_modem")

#: every job domain code enqueues by name
ENQUEUED_BY_NAME = (CREDIT_ORDER, POLL_GATEWAY, IMPORT_SITE, RECONCILE_DAY, SEND_NOTIFICATIONS,
                    SEND_MODEM_NOTIFICATIONS)

#: names written to outbox rows before these jobs moved to worker.jobs (rows pending at an upgrade)
FORMER_NAMES = {
    "portal.payments.credit.credit_order": CREDIT_ORDER.name,
    "worker.poller.poll_gateway_job": POLL_GATEWAY.name,
}
