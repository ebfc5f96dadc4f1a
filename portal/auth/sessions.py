"""Sessions for two kinds of people: who a session belongs to, for how long, and where those without one go.

A session is Flask's signed cookie. What makes it revocable is the user's `session_version`, copied into the
session at login and compared on every request: logging out, a new password, another role or site scope, or a
deactivation raise the version (portal.models.user), and every session begun under the old one ends, on every
device. Staff sessions also end after STAFF_IDLE_MINUTES without a request and STAFF_SESSION_HOURS after login.
"""
from __future__ import annotations

import time

from flask import Flask, Request, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import login_user, logout_user

from portal.auth import guards
from portal.extensions import db, login_manager
from portal.models import StaffUser, TenantUser, utcnow
from portal.settings import current
from portal.web.htmx import go_to

#: the session's keys of its own: the user's session version at login, when it began, when it was last used
VERSION_KEY, BEGAN_KEY, SEEN_KEY = "_sv", "_began", "_seen"
#: what survives a login or a logout: the visitor's choice of language, and the secret of the CSRF tokens
#: (a form open in another tab still posts; the cookie is signed, so nobody else can have planted it)
KEPT_KEYS = ("lang", "csrf_token")
#: the last-seen time is written at most this often (seconds): a cookie rewritten on every request is waste
SEEN_EVERY = 60


def begin(user: StaffUser | TenantUser) -> None:
    """Log `user` in on a fresh session stamped with their session version (the caller commits)."""
    _fresh_session()
    login_user(user)
    now = int(time.time())
    session.update({VERSION_KEY: user.session_version, BEGAN_KEY: now, SEEN_KEY: now})
    if isinstance(user, StaffUser):
        user.last_login_at = utcnow()


def renew(user: StaffUser) -> None:
    """Keep this session alive across a change that ended all of the user's sessions (their own new password):
    a fresh session stamped with the new version, still counted from the original login."""
    began = session.get(BEGAN_KEY)
    _fresh_session()
    login_user(user)
    now = int(time.time())
    session.update({VERSION_KEY: user.session_version, BEGAN_KEY: began if isinstance(began, int) else now,
                    SEEN_KEY: now})


def end_all(user: StaffUser | TenantUser) -> None:
    """End this session and every other session of `user`, on every device (the caller commits)."""
    user.session_version = (user.session_version or 0) + 1
    logout_user()
    _fresh_session()


def _fresh_session() -> None:
    kept = {key: session[key] for key in KEPT_KEYS if key in session}
    session.clear()
    session.update(kept)


@login_manager.user_loader
def load_user(user_id: str):
    """Flask-Login ids carry their kind: staff:<id> or tenant:<id>. A session that was ended loads nobody."""
    kind, _, raw = user_id.partition(":")
    if not raw.isdigit():
        return None
    model = {"staff": StaffUser, "tenant": TenantUser}.get(kind)
    user = db.session.get(model, int(raw)) if model else None
    if user is None or session.get(VERSION_KEY) != user.session_version or not user.is_active:
        return _ended()
    if isinstance(user, StaffUser) and not _staff_session_alive():
        return _ended()
    return user


def _staff_session_alive() -> bool:
    """Within the idle and the absolute timeout; the last-seen time moves on when it is alive."""
    auth, now = current().auth, int(time.time())
    began, seen = session.get(BEGAN_KEY), session.get(SEEN_KEY)
    if not isinstance(began, int) or not isinstance(seen, int):
        return False
    if now - seen > auth.staff_idle_minutes * 60 or now - began > auth.staff_session_hours * 3600:
        return False
    if now - seen >= SEEN_EVERY:
        session[SEEN_KEY] = now
    return True


def _ended() -> None:
    """Forget the ended session's login (the visitor is anonymous from here on)."""
    _fresh_session()
    return None


@login_manager.unauthorized_handler
def unauthorized():
    """Send people to the login page of their area."""
    endpoint = "auth.tenant_login" if request.blueprint == "tenant" else "auth.staff_login"
    # htmx gets 401 with HX-Redirect: a plain redirect would swap the whole login page into the polled fragment
    return go_to(url_for(endpoint, next=request.full_path), code=302, htmx_status=401)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, opened as Flask opens it, but without making its signing serializer for a request that
    carries no cookie (a payment platform's notify, a health check, a first visit): it would only be thrown away."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Sessions in signed cookies (`CookieSessions`), and Flask-Login's "basic" protection: a session seen from
    another address or browser is no longer fresh.

    Not "strong", which would delete it: a phone's address changes with its network, and WeChat's user agent
    too (it names the network, `NetType/WIFI` or `NetType/4G`), so a tenant would be logged out walking out
    of the shop's Wi-Fi. What ends sessions here are the versions, the timeouts and logout.
    """
    app.session_interface = CookieSessions()
    login_manager.session_protection = "basic"
    guards.dummy_hash()  # made now, so that the first login of a missing user costs no more than the next
