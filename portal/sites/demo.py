"""The demo site, modelled on the Duyun Xingli City mall: 5 buses, 300 shops, 50 common meters."""
from __future__ import annotations

import random
from dataclasses import dataclass
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
#: the restaurants with a water meter (W001, W002) besides their electricity meter
WATER_SHOPS = ("S001", "S011")


def shop_phone(n: int) -> str:
    """The phone number on file for shop n (1-based)."""
    return f"139{n:08d}"


@dataclass(frozen=True)
class DemoShop:
    """One shop of the demo workbook."""

    n: int
    gateway: int
    unit_id: int
    area_m2: int
    opening_fen: int

    @property
    def code(self) -> str:
        return f"S{self.n:03d}"

    @property
    def meter_mode(self) -> bool:
        """Every tenth shop keeps its money in its meter (内控), as the reference mall's do."""
        return self.n % 10 == 0


def demo_shops() -> list[DemoShop]:
    """The 300 shops, with the opening balances the workbook carries (seeded: the same on every machine)."""
    rng = random.Random(2026)
    shops = []
    for g in range(1, GATEWAYS + 1):
        for u in range(1, SHOPS_PER_GATEWAY + 1):
            n = len(shops) + 1
            # A few shops start empty or in arrears so the demo shows trips and low balances.
            opening = 0 if n % 37 == 0 else rng.randint(30, 3000) * 100 + rng.randint(0, 99)
            shops.append(DemoShop(n, g, u, rng.choice([20, 35, 48, 60, 120]), opening))
    return shops


def build_workbook(path: Path, *, openings: bool = True) -> Path:
    """Write the demo site as an import file, so the demo goes through the real importer.

    Without `openings` the opening balances are left empty: the history posts them a year back instead
    (portal.sites.demo_history), under the importer's own keys, so the full workbook imports again unchanged.
    """
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
    tariffs.append(["WATER", "商业水价 commercial water (per m³)", "5.6000"])
    accounts = wb.create_sheet("accounts")
    accounts.append(["code", "name", "tenant", "phone", "area_m2", "opening_balance"])
    meters = wb.create_sheet("meters")
    meters.append(["code", "name", "kind", "profile", "gateway", "unit_id", "account", "control_mode",
                   "tariff", "power_limit_kw"])
    shops = demo_shops()
    for shop in shops:
        opening = f"{shop.opening_fen // 100}.{shop.opening_fen % 100:02d}" if openings else None
        accounts.append([shop.code, f"{shop.gateway}F-{shop.unit_id:02d} 商铺 shop {shop.n}", f"商户{shop.n}",
                         shop_phone(shop.n), shop.area_m2, opening])
    for g in range(1, GATEWAYS + 1):
        for shop in (s for s in shops if s.gateway == g):
            meters.append([f"E{shop.n:03d}", f"{shop.code} 电表", "electric", "payfirst-prepaid-v1", f"GW{g}",
                           shop.unit_id, shop.code, "meter" if shop.meter_mode else "platform", "FLAT", 10])
        for c in range(1, COMMON_PER_GATEWAY + 1):
            meters.append([f"C{g}{c:02d}", f"{g}F 公共区域 common {c}", "electric", "chint-dtsu666", f"GW{g}",
                           SHOPS_PER_GATEWAY + c, None, "platform", "FLAT", None])
    # The restaurants' water, so the pages show m³ too: the tenant login's shop has one.
    for i, code in enumerate(WATER_SHOPS, start=1):
        meters.append([f"W{i:03d}", f"{code} 水表", "water", "payfirst-water-v1", "GW1",
                       SHOPS_PER_GATEWAY + COMMON_PER_GATEWAY + i, code, "platform", "WATER", None])
    wb.save(path)
    return path


def seed(session: Session, instance_dir: Path, *, history: bool = False) -> list[str]:
    """Create or refresh the demo site, staff and tenants; returns the login lines to print.

    With `history`, a site created now gets its opening balances from the history (portal.sites.demo_history,
    dated a year back), not from this import.
    """
    path = instance_dir / "demo-site.xlsx"
    fresh = session.scalar(select(Site.id).where(Site.code == SITE_CODE)) is None
    if history and fresh:
        report = import_site(session, build_workbook(path, openings=False), SITE_CODE, actor="system:demo")
        build_workbook(path)  # the file left in the instance folder is the whole site, openings too
    else:
        report = import_site(session, build_workbook(path), SITE_CODE, actor="system:demo")
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


def openings() -> dict[str, int]:
    """The workbook's opening balance of each shop, fen."""
    return {shop.code: shop.opening_fen for shop in demo_shops()}


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
