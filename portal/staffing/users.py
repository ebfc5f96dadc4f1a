"""Verbs on staff users: create one, change their role and sites, switch them off and on, set passwords.

`by` is the staff user doing it (None: the command line, run by whoever holds the server). Nobody may
switch themselves off or take away their own admin role, and the last active admin stays one: someone
must always be able to manage users from the staff pages. A password an admin sets (a new user's, a reset)
is temporary by default: the user must choose their own at their next login.
"""
from __future__ import annotations

import re
import secrets
import unicodedata

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Role, Site, StaffUser

#: the shortest password taken, by the pages and the command line alike
MIN_PASSWORD = 8
MAX_PASSWORD = 200
#: letters (any script), digits and . _ @ -, as people's names are written in logins
_USERNAME = re.compile(r"[\w.@-]{1,64}")
#: who changed a user from the command line
CLI_ACTOR = "cli:users"


class StaffChangeRefused(Exception):
    """A change to a staff user or token that is refused; the message is meant for the admin."""


def _actor(by: StaffUser | None) -> str:
    return by.actor if by is not None else CLI_ACTOR


def _access(user: StaffUser) -> dict:
    """What a user may reach, as the audit log records it before and after a change."""
    return {"role": user.role.value, "sites": sorted(site.code for site in user.sites)}


def check_new_password(password: str, user: StaffUser | None = None) -> None:
    """Refuse a password that is too short or long, or (for `user`) the one they have now."""
    if len(password) < MIN_PASSWORD:
        raise StaffChangeRefused(_("The password needs at least %(n)s characters.", n=MIN_PASSWORD))
    if len(password) > MAX_PASSWORD:
        raise StaffChangeRefused(_("The password may have at most %(n)s characters.", n=MAX_PASSWORD))
    if user is not None and user.password_hash and user.check_password(password):
        raise StaffChangeRefused(_("The new password must differ from the old one."))


def temporary_password() -> str:
    """A random password to hand over once (about 72 bits; no 0/O or 1/l/I to misread)."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def _scope(role: Role, sites: list[Site]) -> list[Site]:
    """The sites to store: none for an admin (they reach every site), at least one for anyone else."""
    if role == Role.ADMIN:
        return []
    if not sites:
        raise StaffChangeRefused(_("Choose at least one site: only administrators work without one."))
    return sites


def create_user(session: Session, by: StaffUser | None, username: str, role: Role, sites: list[Site],
                password: str, *, temporary: bool = True) -> StaffUser:
    """A new staff user; with a `temporary` password they must choose their own at their first login."""
    username = unicodedata.normalize("NFKC", username or "").strip()
    if not _USERNAME.fullmatch(username):
        raise StaffChangeRefused(_("A username is 1 to 64 letters, digits or . _ @ - (no spaces)."))
    taken = session.execute(
        select(StaffUser.id).where(func.lower(StaffUser.username) == username.lower())).first()
    if taken:
        raise StaffChangeRefused(_("The username %(name)s is taken.", name=username))
    check_new_password(password)
    user = StaffUser(username=username, role=role, sites=_scope(role, sites), must_change_password=temporary)
    user.set_password(password)
    session.add(user)
    session.flush()
    audit(session, _actor(by), "staff_user.created", "staff_user", user.id, after=_access(user))
    return user


def _still_an_admin_left(session: Session, user: StaffUser) -> bool:
    """Whether an active admin other than `user` exists."""
    return session.execute(select(func.count()).select_from(StaffUser).where(
        StaffUser.role == Role.ADMIN, StaffUser.active.is_(True), StaffUser.id != user.id)).scalar_one() > 0


def _refuse_losing_admin(session: Session, by: StaffUser | None, user: StaffUser) -> None:
    """Refuse to take away the admin rights of oneself or of the last active admin."""
    if by is not None and by.id == user.id:
        raise StaffChangeRefused(_("You cannot switch yourself off or take away your own administrator role."))
    if user.role == Role.ADMIN and user.active and not _still_an_admin_left(session, user):
        raise StaffChangeRefused(_("%(user)s is the last active administrator.", user=user.username))


def change_access(session: Session, by: StaffUser | None, user: StaffUser, role: Role,
                  sites: list[Site]) -> bool:
    """Give a user another role or site scope (their sessions end); False when nothing changed."""
    sites = _scope(role, sites)
    before = _access(user)
    if role == user.role and {s.id for s in sites} == {s.id for s in user.sites}:
        return False
    if user.role == Role.ADMIN and role != Role.ADMIN:
        _refuse_losing_admin(session, by, user)
    user.role, user.sites = role, sites
    audit(session, _actor(by), "staff_user.access_changed", "staff_user", user.id, before=before,
          after=_access(user))
    return True


def set_active(session: Session, by: StaffUser | None, user: StaffUser, active: bool) -> bool:
    """Switch a user on or off (off: their sessions end, logins and tokens are refused); False: no change."""
    if user.active == active:
        return False
    if not active:
        _refuse_losing_admin(session, by, user)
    user.active = active
    audit(session, _actor(by), "staff_user.activated" if active else "staff_user.deactivated", "staff_user",
          user.id, before={"active": not active}, after={"active": active})
    return True


def reset_password(session: Session, by: StaffUser | None, user: StaffUser, password: str | None = None, *,
                   temporary: bool = True) -> str:
    """Give a user a new password (random when none is given) and return it; their sessions end.

    A `temporary` one must be replaced at their next login. The password itself is never recorded.
    """
    if by is not None and by.id == user.id:
        raise StaffChangeRefused(_("Change your own password from your password page."))
    password = temporary_password() if password is None else password
    check_new_password(password)
    before = user.must_change_password
    user.set_password(password)
    user.must_change_password = temporary
    audit(session, _actor(by), "staff_user.password_reset", "staff_user", user.id,
          before={"must_change_password": before}, after={"must_change_password": temporary})
    return password


def change_own_password(session: Session, user: StaffUser, current_password: str, new_password: str) -> None:
    """A user replaces their own password, proving the current one; a temporary one is then done with."""
    if not user.check_password(current_password):
        raise StaffChangeRefused(_("The current password is wrong."))
    check_new_password(new_password, user)
    before = user.must_change_password
    user.set_password(new_password)
    user.must_change_password = False
    audit(session, user.actor, "staff_user.password_changed", "staff_user", user.id,
          before={"must_change_password": before}, after={"must_change_password": False})
