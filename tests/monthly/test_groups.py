"""Setting up allocation (portal.monthly.groups, portal.monthly.wiring): what a group, its members and its common
meters may be, and master/sub links without loops; every change audited with before and after."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AllocationGroup,
    AllocationMember,
    AllocationMethod,
    AuditEntry,
    MeterKind,
    TariffKind,
)
from portal.monthly.allocation import allocate
from portal.monthly.groups import (
    GroupError,
    add_member,
    add_source,
    change_group,
    create_group,
    delete_group,
    remove_member,
    remove_source,
    set_share,
)
from portal.monthly.wiring import WiringError, set_master
from tests.monthly.conftest import LATER, add_readings, month_start

ACTOR = "staff:mia"


def audits(action: str) -> list[AuditEntry]:
    return db.session.execute(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.id)).scalars().all()


@pytest.fixture(autouse=True)
def english(app):
    """The refusals' messages in English (the default language is Chinese)."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def site(billing_site):
    return billing_site()


def test_a_group_is_created_renamed_and_its_method_changed_with_audit(site):
    group = create_group(db.session, site, ACTOR, code="LIFT", name="Lifts", method="area")
    db.session.commit()
    assert (group.code, group.method) == ("LIFT", AllocationMethod.AREA)
    changed = change_group(db.session, group, ACTOR, code="LIFTS", name="All lifts", method="fixed", tariff_id=None)
    db.session.commit()
    assert changed == {"code": ["LIFT", "LIFTS"], "name": ["Lifts", "All lifts"], "method": ["area", "fixed"]}
    assert audits("allocation_group.created")[0].detail["changed"]["method"] == [None, "area"]
    assert audits("allocation_group.changed")[0].detail["changed"] == changed


@pytest.mark.parametrize("fields, words", [
    (dict(code="", name="x", method="area"), "code"),
    (dict(code="X" * 33, name="x", method="area"), "code"),
    (dict(code="G", name=" ", method="area"), "name"),
    (dict(code="G", name="x", method="equal"), "fixed shares"),
])
def test_a_group_needs_a_code_a_name_and_a_known_method(site, fields, words):
    with pytest.raises(GroupError, match=words):
        create_group(db.session, site, ACTOR, **fields)


def test_a_group_code_is_unique_per_site_only(site, billing_site):
    create_group(db.session, site, ACTOR, code="G", name="one", method="area")
    with pytest.raises(GroupError, match="already has a group G"):
        create_group(db.session, site, ACTOR, code="G", name="two", method="area")
    create_group(db.session, billing_site(), ACTOR, code="G", name="elsewhere", method="area")


def test_a_group_tariff_is_a_flat_tariff_of_its_site(site, billing_site, make_tariff):
    for bad in (make_tariff(site, kind=TariffKind.TIERED), make_tariff(billing_site())):
        with pytest.raises(GroupError, match="flat tariff"):
            create_group(db.session, site, ACTOR, code="G", name="g", method="area", tariff_id=bad.id)
    own = make_tariff(site)
    group = create_group(db.session, site, ACTOR, code="G", name="g", method="area", tariff_id=own.id)
    assert group.tariff_id == own.id


def test_a_group_that_never_ran_is_deleted_with_its_members_and_meters(site, make_account, make_gateway, make_meter):
    group = create_group(db.session, site, ACTOR, code="G", name="g", method="fixed")
    add_member(db.session, group, make_account(site=site, code="S1"), ACTOR)
    add_source(db.session, group, make_meter(gateway=make_gateway(site=site), code="C1"), ACTOR)
    db.session.commit()
    delete_group(db.session, group, ACTOR)
    db.session.commit()
    assert db.session.query(AllocationGroup).count() == 0 and db.session.query(AllocationMember).count() == 0
    assert audits("allocation_group.deleted")[0].detail["changed"]["members"] == [["S1"], None]


def test_a_group_that_ran_is_kept(site, make_account, make_gateway, make_meter):
    group = create_group(db.session, site, ACTOR, code="G", name="g", method="fixed")
    common = make_meter(gateway=make_gateway(site=site), code="C1")
    add_readings(common, [100], month_start(2025, 3))
    add_member(db.session, group, make_account(site=site, balance_fen=1_000), ACTOR)
    add_source(db.session, group, common, ACTOR)
    allocate(db.session, "2025-03", now=LATER)
    db.session.commit()
    with pytest.raises(GroupError, match="kept"):
        delete_group(db.session, group, ACTOR)
    assert db.session.get(AllocationGroup, group.id) is not None


def test_members_are_shops_of_the_groups_site_once(site, billing_site, make_account):
    group = create_group(db.session, site, ACTOR, code="G", name="g", method="fixed")
    shop = make_account(site=site, code="S1")
    add_member(db.session, group, shop, ACTOR, share=3)
    with pytest.raises(GroupError, match="already a member"):
        add_member(db.session, group, shop, ACTOR)
    with pytest.raises(GroupError, match="not a shop of this group's site"):
        add_member(db.session, group, make_account(site=billing_site()), ACTOR)
    remove_member(db.session, group, shop, ACTOR)
    db.session.commit()
    assert db.session.query(AllocationMember).count() == 0
    assert audits("allocation_group.member_removed")[0].detail["changed"] == {"share": [3, None]}


@pytest.mark.parametrize("share", [-1, 1_000_001, 1.5, "2", True])
def test_a_fixed_share_is_a_whole_number_from_zero(site, make_account, share):
    group = create_group(db.session, site, ACTOR, code="G", name="g", method="fixed")
    shop = make_account(site=site)
    add_member(db.session, group, shop, ACTOR)
    with pytest.raises(GroupError, match="whole number from 0"):
        set_share(db.session, group, shop, share, ACTOR)


def test_a_share_change_is_audited_with_before_and_after(site, make_account):
    group = create_group(db.session, site, ACTOR, code="G", name="g", method="fixed")
    shop = make_account(site=site, code="S1")
    add_member(db.session, group, shop, ACTOR)
    assert set_share(db.session, group, shop, 0, ACTOR) is True
    assert set_share(db.session, group, shop, 0, ACTOR) is False
    db.session.commit()
    assert [e.detail["changed"] for e in audits("allocation_group.share_changed")] == [{"share": [1, 0]}]


def test_common_meters_are_meters_of_the_site_without_a_shop(site, billing_site, make_account, make_gateway,
                                                             make_meter):
    group = create_group(db.session, site, ACTOR, code="G", name="g", method="area")
    gw = make_gateway(site=site)
    with pytest.raises(GroupError, match="belongs to a shop"):
        add_source(db.session, group, make_meter(account=make_account(site=site), gateway=gw), ACTOR)
    with pytest.raises(GroupError, match="not a meter of this group's site"):
        add_source(db.session, group, make_meter(gateway=make_gateway(site=billing_site())), ACTOR)
    common = make_meter(gateway=gw, code="C1")
    add_source(db.session, group, common, ACTOR)
    with pytest.raises(GroupError, match="already a common meter of this group"):
        add_source(db.session, group, common, ACTOR)
    with pytest.raises(GroupError, match="electricity or water"):
        add_source(db.session, group, make_meter(gateway=gw, kind=MeterKind.WATER, profile="payfirst-water-v1"), ACTOR)
    remove_source(db.session, group, common, ACTOR)
    db.session.commit()
    assert group.sources == [] and [e.detail["meter"] for e in audits("allocation_group.source_removed")] == ["C1"]
    assert audits("allocation_group.source_added")[0].detail["changed"] == {"sources": [[], ["C1"]]}
    assert audits("allocation_group.source_removed")[0].detail["changed"] == {"sources": [["C1"], []]}


def test_a_common_meter_in_another_group_is_refused(site, make_gateway, make_meter):
    """allocate() prices each group's meters on their own: one meter in two groups would be charged twice."""
    common = make_meter(gateway=make_gateway(site=site), code="C1")
    lights = create_group(db.session, site, ACTOR, code="LIGHTS", name="g", method="area")
    lifts = create_group(db.session, site, ACTOR, code="LIFTS", name="g", method="area")
    add_source(db.session, lights, common, ACTOR)
    with pytest.raises(GroupError, match="already shared in group LIGHTS"):
        add_source(db.session, lifts, common, ACTOR)


# --- master and sub-meters ---------------------------------------------------------------------------------


@pytest.fixture
def meters(site, make_gateway, make_meter):
    gw = make_gateway(site=site)
    return [make_meter(gateway=gw, code=f"M{i}") for i in range(1, 4)]


def test_a_master_is_set_and_cleared_with_audit(meters):
    main, sub, _ = meters
    assert set_master(db.session, sub, main, ACTOR) is True
    assert set_master(db.session, sub, main, ACTOR) is False
    assert set_master(db.session, sub, None, ACTOR) is True
    db.session.commit()
    assert sub.parent_meter_id is None
    assert [e.detail["changed"] for e in audits("meter.master_set")] == [{"master": [None, "M1"]},
                                                                          {"master": ["M1", None]}]


def test_a_loop_of_masters_is_refused(meters):
    top, middle, bottom = meters
    set_master(db.session, middle, top, ACTOR)
    set_master(db.session, bottom, middle, ACTOR)
    with pytest.raises(WiringError, match="loop"):
        set_master(db.session, top, bottom, ACTOR)
    with pytest.raises(WiringError, match="loop"):
        set_master(db.session, top, top, ACTOR)
    assert top.parent_meter_id is None


def test_a_master_is_of_the_same_site_and_kind(site, meters, billing_site, make_gateway, make_meter):
    main = meters[0]
    with pytest.raises(WiringError, match="not a meter of this site"):
        set_master(db.session, main, make_meter(gateway=make_gateway(site=billing_site())), ACTOR)
    water = make_meter(gateway=make_gateway(site=site), kind=MeterKind.WATER, profile="payfirst-water-v1")
    with pytest.raises(WiringError, match="different things"):
        set_master(db.session, main, water, ACTOR)
