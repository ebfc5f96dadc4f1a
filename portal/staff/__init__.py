"""Staff area: the property office's pages, each module a screen, all behind one access check.

`blueprint` checks the staff session for every route; `meters` (the meter list and commands), `counter`
and `refunds` (the cashier's counter), `approvals` (the maker-checker queue), `monthly` (fees, allocation,
line loss, statements), `tariffs` and `rules` (balance rules and the no-trip calendar) and `audit` (the audit
log) register their routes on it.
"""
from portal.staff import (  # noqa: F401  (routes register on bp)
    approvals,
    audit,
    counter,
    meters,
    monthly,
    refunds,
    rules,
    tariffs,
)
from portal.staff.blueprint import bp

__all__ = ["bp"]
