"""The demo site, modelled on the Duyun Xingli City mall: 5 buses, 300 shops, 50 common meters."""
from __future__ import annotations

import random
from pathlib import Path

import openpyxl
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Account, Role, Site, StaffUser, TenantBinding, TenantUser
from portal.payments.providers.sandbox import DIR_NAME, ensure_demo_keys
from portal.sites.importer import import_site

SITE_CODE = "duyun-xingli"
SITE_NAME = "都匀星力城 Duyun Xingli City"
GATEWAYS = 5
SHOPS_PER_GATEWAY = 60
COMMON_PER_GATEWAY = 10
BASE_PORT = 15020
#: demo logins, printed by `demo seed`; the passwords only exist in this embedded demo
STAFF = [("admin", Role.ADMIN), ("manager", Role.MANAGER), ("cashier", Role.CASHIER), ("operator", Role.OPERATOR),
         ("auditor", Role.AUDITOR)]
DEMO_PASSWORD = "payfirst-demo"
MANAGER_PHONE = "13800000000"


def shop_phone(n: int) -> str:
    """The phone number on file for shop n (1-based)."""
    return f"139{n:08d}"


def build_workbook(path: Path) -> Path:
    """Write the demo site as an import file, so the demo goes through the real importer."""
    rng = random.Random(2026)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "gateways"
    ws.append(["code", "name", "host", "port", "protocol"])
    for g in range(1, GATEWAYS + 1):
        ws.append([f"GW{g}", f"{g}号总线 bus {g}", "127.0.0.1", BASE_PORT + g,
                   "rtu-over-tcp" if g == GATEWAYS else "modbus-tcp"])
    tariffs = wb.create_sheet("tariffs")
    tariffs.append(["code", "name", "unit_price"])
    tariffs.append(["FLAT", "商业电价 commercial flat", "0.9500"])
    accounts = wb.create_sheet("accounts")
    accounts.append(["code", "name", "tenant", "phone", "area_m2", "opening_balance"])
    meters = wb.create_sheet("meters")
    meters.append(["code", "name", "kind", "profile", "gateway", "unit_id", "account", "control_mode",
                   "tariff", "power_limit_kw"])
    shop = 0
    for g in range(1, GATEWAYS + 1):
        for u in range(1, SHOPS_PER_GATEWAY + 1):
            shop += 1
            code = f"S{shop:03d}"
            # A few shops start empty or in arrears so the demo shows trips and low balances.
            opening = "0" if shop % 37 == 0 else f"{rng.randint(30, 3000)}.{rng.randint(0, 99):02d}"
            accounts.append([code, f"{g}F-{u:02d} 商铺 shop {shop}", f"商户{shop}", shop_phone(shop),
                             rng.choice([20, 35, 48, 60, 120]), opening])
            meters.append([f"E{shop:03d}", f"{code} 电表", "electric", "payfirst-prepaid-v1", f"GW{g}", u, code,
                           "meter" if shop % 10 == 0 else "platform", "FLAT", 10])
        for c in range(1, COMMON_PER_GATEWAY + 1):
            meters.append([f"C{g}{c:02d}", f"{g}F 公共区域 common {c}", "electric", "chint-dtsu666", f"GW{g}",
                           SHOPS_PER_GATEWAY + c, None, "platform", "FLAT", None])
    wb.save(path)
    return path


def seed(session: Session, instance_dir: Path) -> list[str]:
    """Create or refresh the demo site, staff and tenants; returns the login lines to print."""
    report = import_site(session, build_workbook(instance_dir / "demo-site.xlsx"), SITE_CODE, actor="system:demo")
    site = session.execute(select(Site).where(Site.code == SITE_CODE)).scalar_one()
    site.name = SITE_NAME
    for username, role in STAFF:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
        if user is None:
            user = StaffUser(username=username, role=role)
            user.set_password(DEMO_PASSWORD)
            session.add(user)
        user.sites = [] if role == Role.ADMIN else [site]
    accounts = session.execute(select(Account).where(Account.site_id == site.id).order_by(Account.code)).scalars().all()
    tenants = {t.phone: t for t in session.execute(select(TenantUser)).scalars()}
    bindings = set(session.execute(select(TenantBinding.tenant_user_id, TenantBinding.account_id)).all())
    manager = tenants.get(MANAGER_PHONE) or TenantUser(name="多店经理 multi-shop manager", phone=MANAGER_PHONE)
    session.add(manager)
    session.flush()
    for acct in accounts:
        tenant = tenants.get(acct.phone)
        if tenant is None:
            tenant = tenants[acct.phone] = TenantUser(name=acct.tenant_name, phone=acct.phone)
            session.add(tenant)
            session.flush()
        for user in (tenant, manager) if acct.code in ("S001", "S002", "S003") else (tenant,):
            if (user.id, acct.id) not in bindings:
                session.add(TenantBinding(tenant_user_id=user.id, account_id=acct.id))
    session.flush()
    # The payment sandbox signs Alipay-format notifies with keys of its own, made once per installation.
    ensure_demo_keys(instance_dir / DIR_NAME)
    changed = "changed" if report.changed else "already up to date"
    return [f"Demo site {SITE_CODE}: {len(accounts)} shops ({changed})."]


def login_lines(base_url: str) -> list[str]:
    """How to sign in to the demo served at `base_url` (its own port: two demos may run side by side)."""
    base = base_url.rstrip("/")
    return [
        f"Staff ({base}/auth/staff/login): " + ", ".join(u for u, _ in STAFF) + f" — password {DEMO_PASSWORD}",
        f"Tenant ({base}/auth/tenant/login): account S001, phone {shop_phone(1)}; "
        f"a manager of three shops: account S002, phone {MANAGER_PHONE}",
        f"API ({base}/api/v1): get a bearer token with "
        "`.venv/bin/flask --app wsgi api-token create admin`, then e.g. GET /api/v1/accounts/S001",
    ]
