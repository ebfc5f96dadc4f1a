"""The tariffs page as a walk found it: only real overrides listed, "always" for prices from the beginning."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.extensions import db
from portal.models import Role, TariffVersion
from portal.sites.importer import EPOCH
from portal.tariffs.admin import add_version, create_tariff
from portal.tariffs.versions import from_the_beginning

ACTOR = "staff:test"


@pytest.fixture
def site_with_imported_meters(make_site, make_account, make_meter, make_staff, login):
    """A site whose import gave every meter the default tariff explicitly, and one meter a tariff of its own."""
    site = make_site()
    default = create_tariff(db.session, site, "FLAT", "flat", "flat", ACTOR)
    db.session.add(TariffVersion(tariff_id=default.id, effective_from=EPOCH, unit_price_e4=10_000))
    special = create_tariff(db.session, site, "COLD", "cold store", "flat", ACTOR)
    add_version(db.session, special, datetime(2025, 1, 1, tzinfo=UTC), actor=ACTOR, unit_price_e4=8_000,
                now=datetime(2025, 1, 1, tzinfo=UTC))
    site.default_tariff_id = default.id
    for code in ("M1", "M2", "M3"):
        make_meter(account=make_account(site=site), code=code, tariff_id=default.id)
    make_meter(account=make_account(site=site), code="M4", tariff_id=special.id)
    make_meter(account=make_account(site=site), code="M5")
    db.session.commit()
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    return site


def test_only_meters_billed_otherwise_than_the_default_are_listed_as_overrides(client, site_with_imported_meters):
    site = site_with_imported_meters
    html = client.get(f"/staff/sites/{site.id}/tariffs?section=overrides", headers={"HX-Request": "true"})
    listed = [m for m in ("M1", "M2", "M3", "M4", "M5") if f'data-meter="{m}"' in html.get_data(as_text=True)]
    assert listed == ["M4"]


def test_prices_in_force_from_the_beginning_read_always(client, site_with_imported_meters):
    site = site_with_imported_meters
    html = client.get(f"/staff/sites/{site.id}/tariffs").get_data(as_text=True)
    assert html.count('data-testid="always"') == 1 and "始终" in html
    assert "2000" not in html


@pytest.mark.parametrize(("start", "beginning"), [
    (EPOCH, True),
    (datetime(1999, 12, 31, 16, 0, tzinfo=UTC), True),  # 2000-01-01 00:00 typed in Shanghai time
    (datetime(2000, 1, 3, tzinfo=UTC), False),
    (datetime(2025, 1, 1, tzinfo=UTC), False),
])
def test_the_beginning_is_the_import_start_give_or_take_a_day(start, beginning):
    assert from_the_beginning(start) is beginning
