"""Tenant pages: a shop's balance and meters, on the phone, inside WeChat.

`blueprint` checks the tenant session and ownership; `shop` (the shop page), `days` (days left),
`history`, `recharge` (paying, with `progress` for the order's live state), `emergency` (emergency
credit) and `alerts` (what the shop is told, and how) register their routes on it; so do `receipts` (a
payment's printable e-receipt) and `invoices` (invoice requests, 发票). `sticker` is the one page outside it:
`/r/<token>`, a shop's recharge page for anyone, opened by the QR code on its meter box (its own blueprint,
`sticker_bp`, needs no session).
"""
from portal.tenant import (  # noqa: F401  (routes register on bp)
    alerts,
    days,
    emergency,
    history,
    invoices,
    receipts,
    recharge,
    shop,
)
from portal.tenant.blueprint import bp
from portal.tenant.sticker import bp as sticker_bp

__all__ = ["bp", "sticker_bp"]
