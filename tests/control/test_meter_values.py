"""Every value for a meter is checked when a person or job asks for it, with a clear error (SPEC §3)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.control.commands import CommandRefused, queue_deduction, queue_money, queue_purchase, write_parts
from portal.extensions import db
from portal.models import ControlCommand, ControlMode, Tariff, TariffKind, TariffVersion, utcnow
from portal.sites.importer import ImportFailed, import_site
from portal.tariffs.admin import TariffAdminError, add_version, assign_meter_tariff, set_site_default
from tests.sites.test_importer import located, site_sheets, write_xlsx


@pytest.fixture
def meter_mode(make_account, make_meter):
    return make_meter(account=make_account(balance_fen=10_000), control_mode=ControlMode.METER)


@pytest.mark.parametrize("amount", [0, -1, 10_000_001, 2**32, 1.5, None, True])
def test_a_deduction_outside_what_one_write_carries_is_refused(meter_mode, amount):
    with pytest.raises(CommandRefused, match="1 to 10000000 fen"):
        queue_deduction(db.session, meter_mode, amount, "deduction:x", "staff:m")
    assert db.session.execute(select(ControlCommand)).first() is None


def test_the_limits_of_one_write_are_accepted(meter_mode):
    queue_purchase(db.session, meter_mode, 10_000_000, "purchase:max", "staff:c")
    queue_deduction(db.session, meter_mode, 1, "deduction:min", "staff:m")
    assert len(db.session.execute(select(ControlCommand)).all()) == 2


def test_money_beyond_one_write_is_split_into_writes_a_meter_takes(meter_mode):
    cmds = queue_money(db.session, meter_mode, -23_000_000, "deduction:big", "staff:m")
    assert [(c.action, c.payload["amount_fen"], c.idempotency_key) for c in cmds] == [
        ("deduction", 10_000_000, "deduction:big"), ("deduction", 10_000_000, "deduction:big#2"),
        ("deduction", 3_000_000, "deduction:big#3")]
    again = queue_money(db.session, meter_mode, -23_000_000, "deduction:big", "staff:m")
    assert [c.id for c in again] == [c.id for c in cmds]  # once per key
    assert write_parts(10_000_000) == [10_000_000] and write_parts(1) == [1]


def test_a_platform_mode_meter_is_never_written_money(make_account, make_meter):
    meter = make_meter(account=make_account())
    with pytest.raises(CommandRefused, match="platform mode"):
        queue_deduction(db.session, meter, 100, "deduction:x", "staff:m")


# --- tariffs: one price register, at most what it holds ---------------------------------------------------

def test_a_price_above_what_a_meter_holds_is_refused(make_site):
    site = make_site()
    tariff = Tariff(site_id=site.id, code="T", name="t", kind=TariffKind.FLAT)
    db.session.add(tariff)
    db.session.flush()
    with pytest.raises(TariffAdminError):
        add_version(db.session, tariff, None, actor="staff:m", unit_price_e4=10_000_001)
    assert add_version(db.session, tariff, None, actor="staff:m", unit_price_e4=10_000_000).unit_price_e4 == 10_000_000


def _tou(site) -> Tariff:
    tariff = Tariff(site_id=site.id, code="TOU", name="tou", kind=TariffKind.TOU)
    db.session.add(tariff)
    db.session.flush()
    db.session.add(TariffVersion(tariff_id=tariff.id, effective_from=utcnow() - timedelta(days=1), unit_price_e4=8_000,
                                 periods=[{"start": "00:00", "end": "00:00", "period": "flat"}],
                                 period_prices_e4={"flat": 8_000}))
    db.session.commit()
    return tariff


def test_a_meter_mode_meter_is_given_flat_tariffs_only(meter_mode):
    site = meter_mode.account.site
    with pytest.raises(TariffAdminError):
        assign_meter_tariff(db.session, meter_mode, _tou(site), "staff:m")
    with pytest.raises(TariffAdminError):
        set_site_default(db.session, site, db.session.scalar(select(Tariff).where(Tariff.code == "TOU")), "staff:m")


def test_a_time_of_use_default_is_fine_once_meter_mode_meters_have_their_own_flat_tariff(meter_mode):
    site = meter_mode.account.site
    flat = Tariff(site_id=site.id, code="FLAT", name="flat", kind=TariffKind.FLAT)
    db.session.add(flat)
    db.session.flush()
    db.session.add(TariffVersion(tariff_id=flat.id, effective_from=utcnow() - timedelta(days=1), unit_price_e4=9_000))
    db.session.commit()
    assign_meter_tariff(db.session, meter_mode, flat, "staff:m")
    set_site_default(db.session, site, _tou(site), "staff:m")
    assert site.default_tariff_id is not None


# --- the import: power limits the register holds, flat tariffs for meter mode ----------------------------

@pytest.mark.parametrize("limit_kw", ["655.36", "700", "5.555"])
def test_an_imported_power_limit_the_meter_cannot_hold_is_refused(tmp_path, limit_kw):
    sheets = site_sheets()
    sheets["meters"][1][9] = limit_kw  # E101, payfirst-prepaid-v1
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, write_xlsx(tmp_path / "s.xlsx", sheets), "mall")
    assert ("meters", 2, "power_limit_kw") in located(failed.value)


def test_the_largest_power_limit_the_register_holds_is_imported(tmp_path):
    sheets = site_sheets()
    sheets["meters"][1][9] = "655.35"
    import_site(db.session, write_xlsx(tmp_path / "s.xlsx", sheets), "mall")
    assert db.session.scalar(select(ControlCommand)) is None


def test_an_imported_meter_mode_meter_on_a_time_of_use_default_is_refused(tmp_path, make_site):
    site = make_site("mall")
    site.default_tariff_id = _tou(site).id
    db.session.commit()
    sheets = site_sheets()
    sheets["meters"][2][8] = ""  # W101, meter mode, on the site's default tariff
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, write_xlsx(tmp_path / "s.xlsx", sheets), "mall")
    assert ("meters", 3, "tariff") in located(failed.value)
