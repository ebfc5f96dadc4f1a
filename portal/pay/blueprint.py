"""The payment platforms' blueprint: no session, no CSRF on notifies, only signatures."""
from flask import Blueprint, request

from portal.extensions import limiter

bp = Blueprint("pay", __name__, url_prefix="/pay")

#: the platforms' notify routes (the demo sandbox's pay page is a person's, and limited as any other page)
NOTIFY_ENDPOINTS = frozenset({"pay.alipay_notify", "pay.wechat_notify", "pay.wechat_v3_notify"})


@limiter.request_filter
def platform_notify() -> bool:
    """A payment platform's notify is never rate-limited, whatever limit an operator sets for the app: a platform
    sends every shop's notifies from a few addresses, and a refused one holds paid money back until its retry. Its
    signature is what guards it; a rejected one costs a verification and writes nothing. (A request filter is
    asked before any limit is resolved, so a notify also skips the limiter's work.)"""
    return request.endpoint in NOTIFY_ENDPOINTS


def commit_notify(session) -> None:
    """End a notify's transaction. The usual notify commits its one statement itself (portal.payments), leaving
    nothing open: an empty commit would still run the session's hooks, a tenth of a notify's time."""
    if session.in_transaction():
        session.commit()
