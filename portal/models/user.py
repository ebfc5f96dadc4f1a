"""Staff users (roles, site scope), their API tokens, and tenant users bound to accounts."""
from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Column, ForeignKey, Integer, String, Table, event, false, inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from portal.models.base import Base, CreatedMixin, str_enum


class Role(str, enum.Enum):
    ADMIN = "admin"          # users, sites, imports; every site
    MANAGER = "manager"      # approvals, tariffs, fees, reports
    CASHIER = "cashier"      # counter recharges, refund requests
    OPERATOR = "operator"    # 电工: meters, gateways, trip/close
    AUDITOR = "auditor"      # reads everything of their sites, changes nothing


staff_user_sites = Table(
    "staff_user_sites",
    Base.metadata,
    Column("user_id", ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)


class StaffUser(UserMixin, CreatedMixin, Base):
    """A property company employee; an admin sees every site, others only theirs."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(str_enum(Role, "staff_role"))
    active: Mapped[bool] = mapped_column(default=True)
    #: sessions carry the version they began under; a change of password, role, sites or activity ends them all
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    last_login_at: Mapped[datetime | None]
    #: set by an admin's password reset: the next login must choose a new password before anything else
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())

    sites = relationship("Site", secondary=staff_user_sites)

    def set_password(self, password: str) -> None:
        """Store a salted hash (scrypt) of the password."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Compare a password with the stored hash."""
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        return f"staff:{self.id}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def actor(self) -> str:
        """How this user is named in the ledger and the audit log."""
        return f"staff:{self.username}"


#: a change to any of these ends every session of the staff user (their rights or their proof changed)
SESSION_ENDING_CHANGES = ("password_hash", "role", "active", "sites")


@event.listens_for(StaffUser, "before_update")
def _end_sessions_on_change(mapper, connection, target: StaffUser) -> None:
    """Password, role, site scope or activity changed, by whatever code: every session of the user ends."""
    state = inspect(target)
    if any(state.attrs[name].history.has_changes() for name in SESSION_ENDING_CHANGES):
        target.session_version = (target.session_version or 0) + 1


class ApiToken(CreatedMixin, Base):
    """A bearer token acting as its staff user; only a SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: first characters, shown to staff to tell tokens apart
    prefix: Mapped[str] = mapped_column(String(12))
    last_used_at: Mapped[datetime | None]
    #: after this the token is refused (None: never)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[StaffUser] = relationship()


class TenantUser(UserMixin, CreatedMixin, Base):
    """A shop's tenant or manager, known by phone and/or WeChat openid."""

    __tablename__ = "tenant_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: as on staff users: logging out ends every session of this tenant
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    accounts = relationship("Account", secondary="tenant_bindings", order_by="Account.code")

    def get_id(self) -> str:
        return f"tenant:{self.id}"

    @property
    def actor(self) -> str:
        return f"tenant:{self.id}"


class BindingRole(str, enum.Enum):
    OWNER = "owner"
    MANAGER = "manager"


class TenantBinding(CreatedMixin, Base):
    """Which accounts a tenant user may see and pay for."""

    __tablename__ = "tenant_bindings"

    tenant_user_id: Mapped[int] = mapped_column(
        ForeignKey("tenant_users.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[BindingRole] = mapped_column(str_enum(BindingRole, "binding_role"), default=BindingRole.OWNER)
