"""What stands between a guesser and a login: rate limits (Flask-Limiter), and a password check that costs
the same whether or not the user exists.

The limits on a login form, in the order they bite:
- PER_ADDRESS: every POST from one client address, whatever it tries;
- PER_ACCOUNT_AND_ADDRESS: failed tries at one account from one address, with a backoff (REPEATED_BACKOFF):
  an address that runs into the limit again and again is shut out of that account for the day. It keys on the
  account *and* the address, so a guesser elsewhere cannot lock the real user out at their own desk;
- PER_ACCOUNT: failed tries at one account from anywhere, high enough that only a spread-out guess meets it.
The client address is the peer's, or X-Forwarded-For's only behind TRUSTED_PROXY_HOPS proxies (ProxyFix).
"""
from __future__ import annotations

import secrets
from functools import cache

from flask import Response, request
from flask_limiter.util import get_remote_address
from werkzeug.security import check_password_hash, generate_password_hash

from portal.models import StaffUser

PER_ADDRESS = "30 per minute;300 per hour"
PER_ACCOUNT_AND_ADDRESS = "5 per 15 minutes"
REPEATED_BACKOFF = "3 per day"
PER_ACCOUNT = "100 per hour"
#: an unbound WeChat user trying account codes and phones, and a phone tried in the demo login
PER_PHONE = PER_OPENID = "10 per 15 minutes;30 per day"


def failed(response: Response) -> bool:
    """A login that did not let anyone in: it answered the form again (a success redirects)."""
    return response.status_code != 302


def staff_account() -> str:
    """The account a staff login tries, as the limits count it (case-folded: `Admin` is tried as `admin`)."""
    return "staff:" + request.form.get("username", "").strip().casefold()[:64]


def account_and_address() -> str:
    return f"{staff_account()}@{get_remote_address()}"


def tenant_phone() -> str:
    return "phone:" + request.form.get("phone", "").strip()[:32]


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
