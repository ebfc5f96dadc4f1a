"""JSON API /api/v1: bearer tokens of staff users, the same roles and sites as the staff area.

`blueprint` authenticates every call and answers errors as JSON; `resources` (accounts, meters), `usage`
(a shop's days), `payments`, `commands`, `notifications` (a shop's delivery log), `alarms` (the sites' alarms)
and `openapi` register their routes on it; `tokens` issues and checks tokens.
"""
from portal.api import (  # noqa: F401  (routes register on bp)
    alarms,
    commands,
    notifications,
    openapi,
    payments,
    resources,
    usage,
)
from portal.api.blueprint import bp

__all__ = ["bp"]
