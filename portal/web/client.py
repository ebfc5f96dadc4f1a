"""The client address of each web request, handed to the audit log (portal.audit) through the database session.

`request.remote_addr` is the real client's when the app runs behind TRUSTED_PROXY_HOPS proxies (ProxyFix in
create_app). It is set before every request and cleared when the request ends, whatever its blueprint: a test
(or a CLI command run inside an app context a request used) shares one session with the requests before it, and
must not inherit their address. Jobs run in an app context of their own, so in a session without one.
"""
from __future__ import annotations

from flask import Flask, request

from portal.audit import set_client_address
from portal.extensions import db


def remember_client() -> None:
    """Before a request: the audit records its work writes carry its client address."""
    set_client_address(db.session, request.remote_addr)


def forget_client(_error: BaseException | None = None) -> None:
    """When a request ends: the session (if the request made one) forgets the address."""
    if db.session.registry.has():  # no session made: nothing to forget, and none to make just for this
        set_client_address(db.session, None)


def init_app(app: Flask) -> None:
    """Register the two hooks on the app, so every blueprint's requests have them."""
    app.before_request(remember_client)
    app.teardown_request(forget_client)
