"""Someone who pays into a shop from its sticker's page (portal.tenant.sticker) without being bound to it: named by
a random id kept in their session.

A visitor's order is theirs by that name (PaymentOrder.created_by = "visitor:<id>"): only their session sees its
page, and in the demo the sandbox's cashier (portal.pay.alipay). Logging in or out starts a fresh session, and with
it a new name.
"""
from __future__ import annotations

import secrets

from flask import session
from flask_login import current_user

VISITOR_KEY = "visitor"
PREFIX = "visitor:"


def visitor_actor() -> str:
    """This session's visitor name, made on first use."""
    visitor = session.get(VISITOR_KEY)
    if not isinstance(visitor, str):
        visitor = session[VISITOR_KEY] = secrets.token_hex(8)
    return PREFIX + visitor


def payer_actors() -> set[str]:
    """Every name this session's orders may carry: the signed-in user's, and its visitor name if it has one."""
    names = {current_user.actor} if getattr(current_user, "actor", None) else set()
    visitor = session.get(VISITOR_KEY)
    if isinstance(visitor, str):
        names.add(PREFIX + visitor)
    return names
