"""What stands between a guesser and a login: rate limits (Flask-Limiter), and a password check that costs
the same whether or not the user exists.

The limits on a login form, in the order they bite:
- PER_ADDRESS: every POST from one client address, whatever it tries;
- PER_ACCOUNT_AND_ADDRESS: failed tries at one account from one address, with a backoff (REPEATED_BACKOFF):
  an address that runs into the limit again and again is shut out of that account for the day. It keys on the
  account *and* the address, so a guesser elsewhere cannot lock the real user out at their own desk;
- PER_ACCOUNT: failed tries at one account from anywhere, high enough that only a spread-out guess meets it.
The client address is the peer's, or X-Forwarded-For's only behind TRUSTED_PROXY_HOPS proxies (ProxyFix).

A tenant's SMS sign-in is limited twice: how many codes are sent (CODES_PER_PHONE, CODES_PER_ADDRESS, counting
only codes that went out), and how many wrong codes a phone may be tried with (PER_PHONE); each code also dies
after its own few wrong tries (portal.auth.login_codes). Binding a shop counts failed tries per tenant user and
per address (BIND_PER_USER, BIND_PER_ADDRESS): the binding code is what a guesser would be after.
"""
from __future__ import annotations

import secrets
from functools import cache

from flask import Response, g, request
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.security import check_password_hash, generate_password_hash

from portal.auth.login_codes import PhoneInvalid, normalise_phone
from portal.models import StaffUser

PER_ADDRESS = "30 per minute;300 per hour"
PER_ACCOUNT_AND_ADDRESS = "5 per 15 minutes"
REPEATED_BACKOFF = "3 per day"
PER_ACCOUNT = "100 per hour"
#: an unbound WeChat user trying account codes and phones, a phone tried in the demo login, and wrong SMS codes
PER_PHONE = PER_OPENID = "10 per 15 minutes;30 per day"
#: SMS sign-in codes sent to one phone, and from one client address (a mall's Wi-Fi is one address for many shops)
CODES_PER_PHONE = "5 per hour"
CODES_PER_ADDRESS = "20 per hour"
#: failed tries at binding a shop by one tenant user, and from one address
BIND_PER_USER = "10 per 15 minutes;30 per day"
BIND_PER_ADDRESS = "30 per hour"


def failed(response: Response) -> bool:
    """A login that did not let anyone in: it answered the form again (a success redirects, or sends htmx on)."""
    return response.status_code not in (302, 303) and "HX-Redirect" not in response.headers


def staff_account() -> str:
    """The account a staff login tries, as the limits count it (case-folded: `Admin` is tried as `admin`)."""
    return "staff:" + request.form.get("username", "").strip().casefold()[:64]


def account_and_address() -> str:
    return f"{staff_account()}@{get_remote_address()}"


def tenant_phone() -> str:
    return "phone:" + request.form.get("phone", "").strip()[:32]


def sms_phone() -> str:
    """The phone an SMS sign-in form names, as the limits count it (written any way, counted as one number)."""
    raw = request.form.get("phone", "")
    try:
        return "sms:" + normalise_phone(raw)
    except PhoneInvalid:
        return "sms:" + raw.strip()[:32]


def code_sent(response: Response) -> bool:
    """Whether the request sent an SMS code (only those count against the sending limits)."""
    return bool(g.get("login_code_sent"))


def tenant_user() -> str:
    """The signed-in tenant user, as the binding limits count them ("tenant:<id>")."""
    return str(current_user.get_id())


def too_many_codes_for_phone() -> str:
    """The 429's words when a phone has had its codes for the hour (like those below, in the visitor's language)."""
    return _("Too many codes were sent to this number. Please try again in an hour.")


def too_many_codes_from_here() -> str:
    """When one address asked for codes for too many phones."""
    return _("Too many codes were asked for from this network. Please try again in an hour.")


def too_many_wrong_codes() -> str:
    """When a phone was tried with too many wrong codes."""
    return _("Too many wrong codes for this number. Please wait a while, then ask for a new code.")


def too_many_binding_tries() -> str:
    """When a tenant, or an address, failed to bind a shop too often."""
    return _("Too many wrong tries at binding a shop. Please wait a while, or ask the property office.")


@cache
def dummy_hash() -> str:
    """A hash of a random password, made like every user's, to check against when there is no user."""
    return generate_password_hash(secrets.token_urlsafe(16))


def verify_password(user: StaffUser | None, password: str) -> bool:
    """Whether `password` is `user`'s; with no such user, one hash check all the same (no timing tells)."""
    if user is None:
        check_password_hash(dummy_hash(), password)
        return False
    return user.check_password(password)
