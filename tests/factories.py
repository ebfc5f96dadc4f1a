"""Factory fixtures: each returns a function that makes rows with sensible defaults."""
from __future__ import annotations

import itertools

import pytest

from portal.extensions import db
from portal.models import (
    Account,
    ControlMode,
    Delivery,
    DeliveryStatus,
    Gateway,
    Meter,
    MeterKind,
    MeterState,
    Protocol,
    Role,
    Site,
    StaffUser,
    TenantBinding,
    TenantUser,
    utcnow,
)

_seq = itertools.count(1)
PASSWORD = "correct horse battery"


@pytest.fixture
def make_site():
    def make(code: str | None = None, **kw) -> Site:
        site = Site(code=code or f"site{next(_seq)}", name=kw.pop("name", "Test mall"), **kw)
        db.session.add(site)
        db.session.commit()
        return site

    return make


@pytest.fixture
def make_account(make_site):
    def make(site: Site | None = None, code: str | None = None, balance_fen: int = 0, **kw) -> Account:
        from portal.ledger.entries import post_entry
        from portal.models import EntryKind

        site = site or make_site()
        acct = Account(site_id=site.id, code=code or f"A{next(_seq):04d}", name=kw.pop("name", "Shop"), **kw)
        db.session.add(acct)
        db.session.flush()
        if balance_fen:
            post_entry(db.session, acct, balance_fen, EntryKind.OPENING, f"opening:test:{acct.id}")
        db.session.commit()
        return acct

    return make


@pytest.fixture
def make_gateway(make_site):
    def make(site: Site | None = None, code: str | None = None, port: int = 1502, **kw) -> Gateway:
        site = site or make_site()
        gw = Gateway(site_id=site.id, code=code or f"GW{next(_seq)}", name="bus", host=kw.pop("host", "127.0.0.1"),
                     port=port, protocol=kw.pop("protocol", Protocol.MODBUS_TCP), **kw)
        db.session.add(gw)
        db.session.commit()
        return gw

    return make


@pytest.fixture
def make_meter(make_gateway):
    def make(account: Account | None = None, gateway: Gateway | None = None, unit_id: int | None = None,
             state: dict | None = None, **kw) -> Meter:
        gateway = gateway or make_gateway(site=account.site if account else None)
        n = next(_seq)
        meter = Meter(site_id=gateway.site_id, code=kw.pop("code", f"M{n:04d}"), name="meter",
                      kind=kw.pop("kind", MeterKind.ELECTRIC), profile=kw.pop("profile", "payfirst-prepaid-v1"),
                      gateway_id=gateway.id, unit_id=unit_id or (n % 247) + 1,
                      account_id=account.id if account else None,
                      control_mode=kw.pop("control_mode", ControlMode.PLATFORM), **kw)
        db.session.add(meter)
        db.session.flush()
        if state is not None:
            db.session.add(MeterState(meter_id=meter.id, **state))
        db.session.commit()
        return meter

    return make


@pytest.fixture
def make_staff(make_site):
    def make(username: str | None = None, role: Role = Role.OPERATOR, sites: list[Site] | None = None,
             password: str = PASSWORD, active: bool = True) -> StaffUser:
        user = StaffUser(username=username or f"staff{next(_seq)}", role=role, active=active)
        user.set_password(password)
        user.sites = sites if sites is not None else ([] if role == Role.ADMIN else [make_site()])
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_tenant():
    def make(accounts: list[Account], phone: str | None = None) -> TenantUser:
        tenant = TenantUser(name="tenant", phone=phone or f"139{next(_seq):08d}")
        db.session.add(tenant)
        db.session.flush()
        for acct in accounts:
            db.session.add(TenantBinding(tenant_user_id=tenant.id, account_id=acct.id))
        db.session.commit()
        return tenant

    return make


@pytest.fixture
def login(client):
    """Log the test client in: login.staff(user) or login.tenant(tenant, account)."""

    class Login:
        @staticmethod
        def staff(user: StaffUser, password: str = PASSWORD):
            return client.post("/auth/staff/login", data={"username": user.username, "password": password})

        @staticmethod
        def tenant(tenant: TenantUser, account: Account):
            return client.post("/auth/tenant/login", data={"account": account.code, "phone": tenant.phone})

    return Login()


@pytest.fixture
def make_delivery():
    """make_delivery(account or site, event, status, channel, ...) writes a row of the delivery log directly."""
    from portal.notify.events import EVENTS

    def make(account: Account | None = None, site: Site | None = None, event: str = "low_balance_1",
             status: DeliveryStatus = DeliveryStatus.SENT, channel: str = "aliyun", recipient: str = "13900000001",
             **kw) -> Delivery:
        n = next(_seq)
        site_id = site.id if site else (account.site_id if account else None)
        delivery = Delivery(site_id=site_id, account_id=account.id if account else None, event=event,
                            audience=EVENTS[event].audience, dedupe_key=f"test:{n}", recipient=recipient,
                            channel=channel, text=kw.pop("text", f"message {n}"), status=status,
                            created_at=kw.pop("created_at", None) or utcnow(), **kw)
        db.session.add(delivery)
        db.session.commit()
        return delivery

    return make
