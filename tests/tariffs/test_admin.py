"""Managing tariffs: the admin functions (validation, no past versions, audit) and the manager's page."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, Meter, Role, Tariff, TariffKind, TariffVersion
from portal.tariffs.admin import (
    TariffAdminError,
    add_version,
    assign_meter_tariff,
    create_tariff,
    kwh_to_units,
    local_to_utc,
    yuan_to_e4,
)
from portal.tariffs.pricing import TariffError
from portal.tariffs.versions import version_at

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)  # Monday noon in Shanghai
ACTOR = "staff:test"

#: a day of time-of-use periods, as a Chinese grid company publishes them
DAY = [("00:00", "08:00", "valley"), ("08:00", "11:00", "peak"), ("11:00", "18:00", "flat"),
       ("18:00", "19:00", "peak"), ("19:00", "21:00", "sharp"), ("21:00", "23:00", "peak"),
       ("23:00", "24:00", "valley")]
PRICES = {"sharp": 15_000, "peak": 12_000, "flat": 8_000, "valley": 4_000}


@pytest.fixture
def req(app):
    """An English request context: the messages are translated lazily, for the request's language."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def _tariff(site, kind="flat", code="T1") -> Tariff:
    tariff = create_tariff(db.session, site, code, "plan", kind, ACTOR)
    db.session.commit()
    return tariff


# -- parsing ---------------------------------------------------------------------------------------

def test_prices_are_yuan_with_up_to_four_decimals_exactly(req):
    assert yuan_to_e4("0.6523") == 6_523
    assert yuan_to_e4("１.２") == 12_000  # full-width digits from a Chinese keyboard
    assert yuan_to_e4("¥2") == 20_000
    for bad in ("0.65231", "-1", "1,5", "", "abc"):
        with pytest.raises(TariffAdminError):
            yuan_to_e4(bad)


def test_tier_limits_are_kwh_and_effective_times_are_shanghai_local(req):
    assert kwh_to_units("200") == 20_000 and kwh_to_units("0.5") == 50
    assert local_to_utc("2025-03-03T12:30", SHANGHAI) == datetime(2025, 3, 3, 4, 30, tzinfo=UTC)
    assert local_to_utc("", SHANGHAI) is None
    with pytest.raises(TariffAdminError):
        local_to_utc("tomorrow", SHANGHAI)


# -- create_tariff ---------------------------------------------------------------------------------

def test_create_tariff_is_audited_and_codes_are_unique_per_site(req, make_site):
    site, other = make_site(), make_site()
    tariff = _tariff(site, "tou", "TOU1")

    assert (tariff.kind, tariff.site_id) == (TariffKind.TOU, site.id)
    audit = db.session.execute(select(AuditEntry).where(AuditEntry.action == "tariff.create")).scalar_one()
    assert (audit.actor, audit.target_id, audit.site_id) == (ACTOR, tariff.id, site.id)
    with pytest.raises(TariffAdminError):
        create_tariff(db.session, site, "TOU1", "again", "flat", ACTOR)
    assert create_tariff(db.session, other, "TOU1", "same code elsewhere", "flat", ACTOR).id
    with pytest.raises(TariffAdminError):
        create_tariff(db.session, site, "X2", "plan", "weekly", ACTOR)
    with pytest.raises(TariffAdminError):
        create_tariff(db.session, site, "has space", "plan", "flat", ACTOR)


# -- add_version: validation -----------------------------------------------------------------------

def test_a_time_of_use_day_is_accepted_and_stored_as_json(make_site):
    tariff = _tariff(make_site(), "tou")

    version = add_version(db.session, tariff, NOW, actor=ACTOR, periods=DAY, period_prices_e4=PRICES, now=NOW)
    db.session.commit()

    assert version.periods[0] == {"start": "00:00", "end": "08:00", "period": "valley"}
    assert version.periods[-1]["end"] == "00:00"  # 24:00 is midnight
    assert version.period_prices_e4 == PRICES and version.unit_price_e4 == 8_000


@pytest.mark.parametrize("periods", [
    [("00:00", "12:00", "valley"), ("11:00", "00:00", "peak")],  # overlap
    [("00:00", "12:00", "valley"), ("13:00", "00:00", "peak")],  # a gap (incomplete)
    [("00:00", "12:00", "valley")],  # half a day
])
def test_overlapping_or_incomplete_periods_are_refused(make_site, periods, req):
    tariff = _tariff(make_site(), "tou")

    with pytest.raises(TariffError, match="whole day exactly once"):
        add_version(db.session, tariff, NOW, actor=ACTOR, periods=periods, period_prices_e4=PRICES, now=NOW)


def test_periods_need_valid_times_a_known_period_a_price_and_at_most_eight(req, make_site):
    tariff = _tariff(make_site(), "tou")
    add = lambda periods, prices=PRICES: add_version(  # noqa: E731
        db.session, tariff, NOW, actor=ACTOR, periods=periods, period_prices_e4=prices, now=NOW)

    with pytest.raises(TariffAdminError, match="HH:MM"):
        add([("00:00", "25:00", "flat")])
    with pytest.raises(TariffAdminError, match="sharp, peak"):
        add([("00:00", "00:00", "night")])
    with pytest.raises(TariffAdminError, match="price for every period"):
        add([("00:00", "12:00", "valley"), ("12:00", "00:00", "peak")], {"valley": 4_000})
    nine = [(f"{h:02d}:00", f"{h + 1:02d}:00", "flat") for h in range(8)] + [("08:00", "00:00", "valley")]
    with pytest.raises(TariffAdminError, match="At most 8"):
        add(nine)
    assert db.session.execute(select(TariffVersion)).first() is None


def test_unsorted_or_closed_tiers_are_refused(req, make_site):
    tariff = _tariff(make_site(), "tiered")
    add = lambda tiers: add_version(db.session, tariff, NOW, actor=ACTOR, tiers=tiers, now=NOW)  # noqa: E731

    with pytest.raises(TariffError, match="must ascend"):
        add([(20_000, 5_000), (10_000, 6_000), (None, 8_000)])
    with pytest.raises(TariffError, match="last tier"):
        add([(10_000, 5_000), (20_000, 6_000)])
    with pytest.raises(TariffError, match="last tier"):
        add([(None, 5_000), (None, 6_000)])
    version = add([(10_000, 5_000), (20_000, 6_000), (None, 8_000)])
    assert (version.tiers[-1] == {"upto": None, "price_e4": 8_000, "medium": "electric"}
            and version.unit_price_e4 == 5_000)


def test_a_flat_version_needs_a_price_of_zero_or_more(req, make_site):
    tariff = _tariff(make_site())

    with pytest.raises(TariffAdminError):
        add_version(db.session, tariff, NOW, actor=ACTOR, now=NOW)
    with pytest.raises(TariffAdminError):
        add_version(db.session, tariff, NOW, actor=ACTOR, unit_price_e4=-1, now=NOW)


# -- add_version: time -----------------------------------------------------------------------------

def test_a_version_in_the_past_is_refused(req, make_site):
    tariff = _tariff(make_site())

    with pytest.raises(TariffAdminError, match="past"):
        add_version(db.session, tariff, NOW - timedelta(minutes=1), actor=ACTOR, unit_price_e4=1, now=NOW)
    assert db.session.execute(select(TariffVersion)).first() is None


def test_now_is_accepted_to_the_minute_and_blank_means_now(req, make_site):
    tariff = _tariff(make_site())

    typed = add_version(db.session, tariff, NOW, actor=ACTOR, unit_price_e4=1, now=NOW + timedelta(seconds=40))
    blank = add_version(db.session, tariff, None, actor=ACTOR, unit_price_e4=2, now=NOW + timedelta(minutes=5))

    assert typed.effective_from == NOW and blank.effective_from == NOW + timedelta(minutes=5)
    with pytest.raises(TariffAdminError, match="already starts"):
        add_version(db.session, tariff, NOW + timedelta(minutes=5), actor=ACTOR, unit_price_e4=3,
                    now=NOW + timedelta(minutes=5))


def test_a_future_version_is_accepted_and_not_used_until_its_time(make_site):
    tariff = _tariff(make_site())
    add_version(db.session, tariff, NOW, actor=ACTOR, unit_price_e4=10_000, now=NOW)
    later = NOW + timedelta(days=3)
    add_version(db.session, tariff, later, actor=ACTOR, unit_price_e4=12_000, now=NOW)
    db.session.commit()

    assert version_at(db.session, tariff.id, NOW + timedelta(days=1)).unit_price_e4 == 10_000
    assert version_at(db.session, tariff.id, later - timedelta(seconds=1)).unit_price_e4 == 10_000
    assert version_at(db.session, tariff.id, later).unit_price_e4 == 12_000
    actions = db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
    assert actions == ["tariff.create", "tariff.version.add", "tariff.version.add"]


# -- assign_meter_tariff ---------------------------------------------------------------------------

def test_a_meter_override_needs_a_tariff_of_its_site_with_prices_in_force(req, make_site, make_account, make_meter):
    site = make_site()
    meter = make_meter(account=make_account(site=site))
    tariff, elsewhere = _tariff(site), _tariff(make_site())
    for t in (tariff, elsewhere):
        add_version(db.session, t, NOW, actor=ACTOR, unit_price_e4=1, now=NOW)
    future = _tariff(site, code="LATER")
    add_version(db.session, future, NOW + timedelta(days=1), actor=ACTOR, unit_price_e4=1, now=NOW)

    with pytest.raises(TariffAdminError, match="another site"):
        assign_meter_tariff(db.session, meter, elsewhere, ACTOR, now=NOW)
    with pytest.raises(TariffAdminError, match="no prices in force"):
        assign_meter_tariff(db.session, meter, future, ACTOR, now=NOW)
    assert assign_meter_tariff(db.session, meter, tariff, ACTOR, now=NOW) is True
    assert assign_meter_tariff(db.session, meter, tariff, ACTOR, now=NOW) is False
    assert meter.tariff_id == tariff.id
    assert assign_meter_tariff(db.session, meter, None, ACTOR) is True and meter.tariff_id is None
    assigned = db.session.execute(select(AuditEntry).where(AuditEntry.action == "meter.tariff.assign")).scalars().all()
    assert [a.detail["tariff_id"] for a in assigned] == [tariff.id, None]


# -- the page --------------------------------------------------------------------------------------

@pytest.fixture
def manager(make_staff, make_site, make_account, make_meter):
    """A manager of a site with one meter (M-T1) and a flat tariff (FLAT, the site default, 1 yuan)."""
    site = make_site()
    make_meter(account=make_account(site=site), code="M-T1")
    tariff = create_tariff(db.session, site, "FLAT", "flat", "flat", ACTOR)
    add_version(db.session, tariff, datetime(2025, 1, 1, tzinfo=UTC), actor=ACTOR, unit_price_e4=10_000,
                now=datetime(2025, 1, 1, tzinfo=UTC))
    site.default_tariff_id = tariff.id
    db.session.commit()
    return make_staff(role=Role.MANAGER, sites=[site]), site


def url(site, tail: str = "") -> str:
    return f"/staff/sites/{site.id}/tariffs{tail}"


HX = {"HX-Request": "true"}


def test_manager_sees_tariffs_with_the_current_and_future_versions(client, login, manager):
    user, site = manager
    tariff = db.session.execute(select(Tariff).where(Tariff.site_id == site.id)).scalar_one()
    add_version(db.session, tariff, datetime(2099, 1, 1, tzinfo=UTC), actor=ACTOR, unit_price_e4=12_345)
    db.session.commit()
    login.staff(user)

    html = client.get(url(site)).get_data(as_text=True)

    assert 'id="tariffs"' in html and 'id="overrides"' in html and 'data-tariff="FLAT"' in html
    assert 'data-version="current"' in html and 'data-version="future"' in html
    assert "1.0000" in html and "1.2345" in html and 'data-testid="default"' in html
    assert client.get("/staff/tariffs").headers["Location"].endswith(url(site))
    assert 'href="/staff/tariffs"' in client.get("/staff/").get_data(as_text=True)  # the nav link


def test_manager_creates_a_tou_tariff_and_adds_prices_from_a_local_time(client, login, manager):
    user, site = manager
    login.staff(user)

    assert client.post(url(site), data={"code": "TOU", "name": "峰谷", "kind": "tou"}, headers=HX).status_code == 200
    tariff = db.session.execute(select(Tariff).where(Tariff.code == "TOU")).scalar_one()
    form = {"tariff": str(tariff.id), "effective": "2099-03-01T00:00",
            "start0": "00:00", "end0": "08:00", "period0": "valley",
            "start1": "08:00", "end1": "22:00", "period1": "peak",
            "start2": "22:00", "end2": "00:00", "period2": "valley",
            "price_peak": "1.2", "price_valley": "0.3561"}
    response = client.post(url(site, "/versions"), data=form, headers=HX)

    assert response.status_code == 200, response.get_data(as_text=True)
    version = db.session.execute(select(TariffVersion).where(TariffVersion.tariff_id == tariff.id)).scalar_one()
    assert version.effective_from == datetime(2099, 2, 28, 16, 0, tzinfo=UTC)  # Shanghai midnight
    assert version.period_prices_e4 == {"peak": 12_000, "valley": 3_561}
    assert 'data-version="future"' in response.get_data(as_text=True)


def test_a_bad_version_is_refused_in_place_and_the_form_keeps_what_was_typed(client, login, manager):
    user, site = manager
    login.staff(user)
    tariff = db.session.execute(select(Tariff).where(Tariff.site_id == site.id)).scalar_one()

    past = client.post(url(site, "/versions"), data={"tariff": tariff.id, "effective": "2020-01-01T00:00",
                                                      "price": "1.5"}, headers=HX)
    bad_price = client.post(url(site, "/versions"), data={"tariff": tariff.id, "price": "1.23456"}, headers=HX)

    assert past.status_code == 200 and bad_price.status_code == 200
    html = past.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="tariffs"') and 'data-testid="error-version"' in html
    assert 'value="1.5"' in html
    assert len(db.session.execute(select(TariffVersion)).all()) == 1


def test_tiered_prices_come_from_kwh_limits_with_the_last_open(client, login, manager):
    user, site = manager
    login.staff(user)
    client.post(url(site), data={"code": "STEP", "name": "阶梯", "kind": "tiered"}, headers=HX)
    tariff = db.session.execute(select(Tariff).where(Tariff.code == "STEP")).scalar_one()

    unsorted = client.post(url(site, "/versions"), data={
        "tariff": tariff.id, "upto0": "200", "tier_price0": "0.5", "upto1": "100", "tier_price1": "0.6",
        "tier_price2": "0.8"}, headers=HX)
    ok = client.post(url(site, "/versions"), data={
        "tariff": tariff.id, "upto0": "100", "tier_price0": "0.5", "upto1": "200.5", "tier_price1": "0.6",
        "tier_price2": "0.8"}, headers=HX)

    assert unsorted.status_code == 200 and "阶梯上限必须递增" in unsorted.get_data(as_text=True)  # Chinese by default
    assert ok.status_code == 200
    version = db.session.execute(select(TariffVersion).where(TariffVersion.tariff_id == tariff.id)).scalar_one()
    assert version.tiers == [{"upto": 10_000, "price_e4": 5_000, "medium": "electric"},
                             {"upto": 20_050, "price_e4": 6_000, "medium": "electric"},
                             {"upto": None, "price_e4": 8_000, "medium": "electric"}]


def test_manager_assigns_a_tariff_to_a_meter_and_back_to_the_default(client, login, manager, make_meter):
    user, site = manager
    login.staff(user)
    client.post(url(site), data={"code": "SPECIAL", "name": "cold store", "kind": "flat"}, headers=HX)
    special = db.session.execute(select(Tariff).where(Tariff.code == "SPECIAL")).scalar_one()

    no_prices = client.post(url(site, "/meters"), data={"meter": "M-T1", "tariff": special.id}, headers=HX)
    client.post(url(site, "/versions"), data={"tariff": special.id, "price": "0.8"}, headers=HX)
    assigned = client.post(url(site, "/meters"), data={"meter": "M-T1", "tariff": special.id}, headers=HX)
    unknown = client.post(url(site, "/meters"), data={"meter": "NOPE", "tariff": special.id}, headers=HX)

    assert no_prices.status_code == 200 and 'data-testid="error-override"' in no_prices.get_data(as_text=True)
    assert assigned.status_code == 200 and 'data-meter="M-T1"' in assigned.get_data(as_text=True)
    assert unknown.status_code == 200
    meter = db.session.execute(select(Meter).where(Meter.code == "M-T1")).scalar_one()
    assert meter.tariff_id == special.id
    client.post(url(site, "/meters"), data={"meter": "M-T1", "tariff": ""}, headers=HX)
    db.session.refresh(meter)
    assert meter.tariff_id is None


def test_a_plain_form_post_redirects_back_with_a_message(client, login, manager):
    user, site = manager
    login.staff(user)

    response = client.post(url(site), data={"code": "B", "name": "b", "kind": "flat"})

    assert response.status_code == 302 and response.headers["Location"].endswith(url(site) + "#tariffs")


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.CASHIER])
def test_only_managers_and_admins_manage_tariffs(client, login, manager, make_staff, role):
    _, site = manager
    login.staff(make_staff(role=role, sites=[site]))

    assert client.get(url(site)).status_code == 403
    assert client.post(url(site), data={"code": "X", "name": "x", "kind": "flat"}).status_code == 403
    assert db.session.execute(select(Tariff).where(Tariff.code == "X")).first() is None
    assert 'href="/staff/tariffs"' not in client.get("/staff/").get_data(as_text=True)


def test_admin_manages_any_site(client, login, manager, make_staff):
    _, site = manager
    login.staff(make_staff(role=Role.ADMIN))

    assert client.get(url(site)).status_code == 200


def test_a_manager_of_another_site_gets_404(client, login, manager, make_staff):
    _, site = manager
    login.staff(make_staff(role=Role.MANAGER))  # of a site of their own
    tariff = db.session.execute(select(Tariff).where(Tariff.site_id == site.id)).scalar_one()

    assert client.get(url(site)).status_code == 404
    assert client.post(url(site, "/versions"), data={"tariff": tariff.id, "price": "9"}).status_code == 404
    assert client.post(url(site, "/meters"), data={"meter": "M-T1", "tariff": ""}).status_code == 404
    assert len(db.session.execute(select(TariffVersion)).all()) == 1


def test_a_tariff_of_another_site_cannot_be_given_prices_through_this_site(client, login, manager, make_staff,
                                                                           make_site):
    _user, site = manager
    other = make_site()
    foreign = create_tariff(db.session, other, "F", "foreign", "flat", ACTOR)
    db.session.commit()
    login.staff(make_staff(role=Role.ADMIN))

    response = client.post(url(site, "/versions"), data={"tariff": foreign.id, "price": "9"}, headers=HX)

    assert response.status_code == 200
    assert db.session.execute(select(TariffVersion).where(TariffVersion.tariff_id == foreign.id)).first() is None


def test_changes_need_the_csrf_token(client, login, manager, request):
    user, site = manager
    login.staff(user)
    request.getfixturevalue("csrf_on")  # after logging in
    tariff = db.session.execute(select(Tariff).where(Tariff.site_id == site.id)).scalar_one()

    assert client.post(url(site), data={"code": "X", "name": "x", "kind": "flat"}).status_code == 400
    assert client.post(url(site, "/versions"), data={"tariff": tariff.id, "price": "9"}).status_code == 400
    assert client.post(url(site, "/meters"), data={"meter": "M-T1", "tariff": ""}).status_code == 400
    assert len(db.session.execute(select(TariffVersion)).all()) == 1
    assert 'name="csrf_token"' in client.get(url(site)).get_data(as_text=True)



def test_tier_limits_for_water_are_entered_in_cubic_metres_and_kept_in_litres(req):
    from portal.tariffs.admin import limit_to_units

    assert limit_to_units("12.5", "water") == 12_500
    assert limit_to_units("200", "electric") == 20_000
    with pytest.raises(TariffAdminError):
        limit_to_units("1.2345", "water")


def test_a_tiered_tariff_counts_one_kind_of_meter_only(req, make_site, make_gateway, make_meter):
    from portal.models import MeterKind

    site = make_site("wsite")
    tariff = _tariff(site, "tiered", "WT")
    add_version(db.session, tariff, None, actor=ACTOR, tiers=[(10_000, 32_500), (None, 45_000)], medium="water")
    db.session.commit()
    assert tariff.versions[0].tiers[0] == {"upto": 10_000, "price_e4": 32_500, "medium": "water"}
    gateway = make_gateway(site=site)
    electric = make_meter(code="E0", gateway=gateway)
    water = make_meter(code="W1", kind=MeterKind.WATER, profile="payfirst-water-v1", gateway=gateway)
    assert assign_meter_tariff(db.session, water, tariff, ACTOR) is True
    with pytest.raises(TariffAdminError):
        assign_meter_tariff(db.session, electric, tariff, ACTOR)


def test_the_engine_refuses_tiers_counted_for_another_medium():
    from portal.tariffs.pricing import Version, cost_e5

    water_tiers = Version(kind="tiered", unit_price_e4=0, tiers=((10_000, 32_500), (None, 45_000)), medium="water")
    assert cost_e5(water_tiers, "water", 12_000) == 10_000 * 32_500 + 2_000 * 45_000
    with pytest.raises(TariffError):
        cost_e5(water_tiers, "electric", 100)


def test_manager_makes_another_tariff_the_site_default(client, login, manager):
    from portal.models import AuditEntry as Audit
    from portal.models import Site

    user, site = manager
    login.staff(user)
    client.post(url(site), data={"code": "NEW", "name": "new plan", "kind": "flat"}, headers=HX)
    new = db.session.execute(select(Tariff).where(Tariff.code == "NEW")).scalar_one()

    without_prices = client.post(url(site, "/default"), data={"tariff": new.id}, headers=HX)
    client.post(url(site, "/versions"), data={"tariff": new.id, "price": "0.88"}, headers=HX)
    made = client.post(url(site, "/default"), data={"tariff": new.id}, headers=HX)

    assert without_prices.status_code == 200
    assert made.status_code == 200
    assert db.session.get(Site, site.id).default_tariff_id == new.id
    assert db.session.execute(select(Audit).where(Audit.action == "site.default_tariff")).scalar_one()


def test_new_prices_for_the_sites_default_tariff_need_a_confirmation_that_says_how_many_meters(client, login,
                                                                                               manager):
    """The walk found a site-wide price change saved with one click: it now says what it touches and asks."""
    user, site = manager
    login.staff(user)
    tariff = db.session.execute(select(Tariff).where(Tariff.site_id == site.id)).scalar_one()
    form = {"tariff": tariff.id, "effective": "2099-01-01T00:00", "price": "1.10"}

    unconfirmed = client.post(url(site, "/versions"), data=form, headers=HX).get_data(as_text=True)
    assert 'data-testid="error-version"' in unconfirmed and "1 块表" in unconfirmed  # the site's one meter
    assert len(db.session.execute(select(TariffVersion)).all()) == 1
    confirmed = client.post(url(site, "/versions"), data={**form, "confirm": "1"}, headers=HX)
    assert 'data-testid="error-version"' not in confirmed.get_data(as_text=True)
    assert len(db.session.execute(select(TariffVersion)).all()) == 2


def test_a_tariff_that_is_not_the_default_needs_no_confirmation(client, login, manager):
    user, site = manager
    login.staff(user)
    client.post(url(site), data={"code": "SHOP", "name": "shop", "kind": "flat"}, headers=HX)
    tariff = db.session.execute(select(Tariff).where(Tariff.code == "SHOP")).scalar_one()
    client.post(url(site, "/versions"), data={"tariff": tariff.id, "price": "0.90"}, headers=HX)
    assert db.session.execute(select(TariffVersion).where(TariffVersion.tariff_id == tariff.id)).scalar_one()
