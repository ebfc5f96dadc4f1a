"""Setting up common-area allocation: groups, their member shops and shares, and their common meters.

The rules these verbs keep are the ones allocate() (portal.monthly.allocation) relies on:
- a group's common meters are meters of its own site without a shop, all of one kind (allocate skips a group
  that mixes electricity and water), and a common meter is in one group only: allocate prices each group's
  meters on their own, so a meter in two groups would be charged to the shops twice;
- members are shops of the group's site; a fixed share is a whole number 0..MAX_SHARE (the column's check
  says >= 0; a shop with share 0 pays nothing under the fixed method);
- the tariff, when not the site's default, is a flat tariff of the site (allocate needs a flat price);
- a group that ever ran keeps its runs (they explain posted ledger entries), so it cannot be deleted; removing
  its common meters stops its runs (allocate skips a group without common meters).
Every change is audited with what it was before and after. The verbs only flush.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import (
    Account,
    AllocationGroup,
    AllocationMember,
    AllocationMethod,
    AllocationRun,
    Meter,
    Site,
    Tariff,
    TariffKind,
    allocation_sources,
)

#: the largest fixed share (weights are relative: 1..100 is what offices use; this keeps sums far from overflow)
MAX_SHARE = 1_000_000
CODE_MAX, NAME_MAX = 32, 120


class GroupError(ValueError):
    """A change to an allocation group that is refused; the message is for the manager."""


def create_group(session: Session, site: Site, actor: str, *, code: str, name: str, method: str,
                 tariff_id: int | None = None) -> AllocationGroup:
    """A new group of the site, without members or common meters yet."""
    values = _checked(session, site, None, code=code, name=name, method=method, tariff_id=tariff_id)
    group = AllocationGroup(site_id=site.id, **values)
    session.add(group)
    session.flush()
    audit(session, actor, "allocation_group.created", "allocation_group", group.id, site.id,
          changed={k: [None, _plain(v)] for k, v in values.items()})
    return group


def change_group(session: Session, group: AllocationGroup, actor: str, *, code: str, name: str, method: str,
                 tariff_id: int | None) -> dict:
    """Rename a group, or change how it splits or its tariff; returns {field: [before, after]} (audited)."""
    site = session.get(Site, group.site_id)
    values = _checked(session, site, group, code=code, name=name, method=method, tariff_id=tariff_id)
    changed = {k: [_plain(getattr(group, k)), _plain(v)] for k, v in values.items() if getattr(group, k) != v}
    for k in changed:
        setattr(group, k, values[k])
    if changed:
        session.flush()
        audit(session, actor, "allocation_group.changed", "allocation_group", group.id, group.site_id, changed=changed)
    return changed


def runs_of(session: Session, group: AllocationGroup) -> int:
    """How many periods the group was allocated for."""
    return session.execute(select(func.count()).select_from(AllocationRun)
                           .where(AllocationRun.group_id == group.id)).scalar_one()


def delete_group(session: Session, group: AllocationGroup, actor: str) -> None:
    """Delete a group that never ran, with its members and common meters; a group with runs is refused."""
    runs = runs_of(session, group)
    if runs:
        raise GroupError(_l("%(code)s was allocated for %(count)s periods: its runs explain posted charges, so it "
                            "is kept. Remove its common meters to stop allocating it.", code=group.code, count=runs))
    before = dict(code=group.code, name=group.name, method=group.method.value, tariff_id=group.tariff_id,
                  members=_member_codes(session, group), sources=[m.code for m in sources_of(session, group)])
    for member in group.members:
        session.delete(member)
    group.sources = []
    session.flush()
    session.expire(group, ["members"])  # gone: the group's delete must not try to detach them
    session.delete(group)
    session.flush()
    audit(session, actor, "allocation_group.deleted", "allocation_group", group.id, group.site_id,
          changed={k: [v, None] for k, v in before.items()})


def add_member(session: Session, group: AllocationGroup, account: Account, actor: str, share: int = 1) -> None:
    """Make a shop of the group's site a member (share 1 unless given)."""
    if account.site_id != group.site_id:
        raise GroupError(_l("%(code)s is not a shop of this group's site.", code=account.code))
    _check_share(share)
    if session.get(AllocationMember, (group.id, account.id)) is not None:
        raise GroupError(_l("%(code)s is already a member of %(group)s.", code=account.code, group=group.code))
    session.add(AllocationMember(group_id=group.id, account_id=account.id, share=share))
    session.flush()
    audit(session, actor, "allocation_group.member_added", "allocation_group", group.id, group.site_id,
          account=account.code, changed={"share": [None, share]})


def set_share(session: Session, group: AllocationGroup, account: Account, share: int, actor: str) -> bool:
    """Change a member's fixed share; whether it changed."""
    _check_share(share)
    member = _member(session, group, account)
    if member.share == share:
        return False
    audit(session, actor, "allocation_group.share_changed", "allocation_group", group.id, group.site_id,
          account=account.code, changed={"share": [member.share, share]})
    member.share = share
    session.flush()
    return True


def remove_member(session: Session, group: AllocationGroup, account: Account, actor: str) -> None:
    """Take a shop out of the group (its past runs keep its lines)."""
    member = _member(session, group, account)
    audit(session, actor, "allocation_group.member_removed", "allocation_group", group.id, group.site_id,
          account=account.code, changed={"share": [member.share, None]})
    session.delete(member)
    session.flush()


def sources_of(session: Session, group: AllocationGroup) -> list[Meter]:
    """The group's common meters, by code."""
    return list(session.execute(select(Meter).join(allocation_sources, allocation_sources.c.meter_id == Meter.id)
                                .where(allocation_sources.c.group_id == group.id).order_by(Meter.code)).scalars())


def group_of_source(session: Session, meter: Meter) -> AllocationGroup | None:
    """The group a common meter is shared in, if any."""
    return session.execute(select(AllocationGroup).join(allocation_sources,
                                                        allocation_sources.c.group_id == AllocationGroup.id)
                           .where(allocation_sources.c.meter_id == meter.id)).scalars().first()


def add_source(session: Session, group: AllocationGroup, meter: Meter, actor: str) -> None:
    """Share a common meter's consumption over the group's shops."""
    if meter.site_id != group.site_id:
        raise GroupError(_l("%(code)s is not a meter of this group's site.", code=meter.code))
    if meter.account_id is not None:
        raise GroupError(_l("%(code)s belongs to a shop: only a meter without a shop is a common meter.",
                            code=meter.code))
    other = group_of_source(session, meter)
    if other is not None:
        if other.id == group.id:
            raise GroupError(_l("%(code)s is already a common meter of this group.", code=meter.code))
        raise GroupError(_l("%(code)s is already shared in group %(group)s: a common meter in two groups would be "
                            "charged to the shops twice. Remove it there first.", code=meter.code, group=other.code))
    kinds = {m.kind for m in sources_of(session, group)}
    if kinds and meter.kind not in kinds:
        raise GroupError(_l("%(code)s measures another kind than this group's common meters: a group shares "
                            "electricity or water, not both.", code=meter.code))
    before = [m.code for m in sources_of(session, group)]
    group.sources.append(meter)
    session.flush()
    audit(session, actor, "allocation_group.source_added", "allocation_group", group.id, group.site_id,
          meter=meter.code, changed={"sources": [before, sorted([*before, meter.code])]})


def remove_source(session: Session, group: AllocationGroup, meter: Meter, actor: str) -> None:
    """Stop sharing a common meter in the group."""
    if meter not in group.sources:
        raise GroupError(_l("%(code)s is not a common meter of this group.", code=meter.code))
    before = [m.code for m in sources_of(session, group)]
    group.sources.remove(meter)
    session.flush()
    audit(session, actor, "allocation_group.source_removed", "allocation_group", group.id, group.site_id,
          meter=meter.code, changed={"sources": [before, [code for code in before if code != meter.code]]})


def _checked(session: Session, site: Site, group: AllocationGroup | None, *, code: str, name: str, method: str,
             tariff_id: int | None) -> dict:
    code, name = (code or "").strip(), (name or "").strip()
    if not code or len(code) > CODE_MAX:
        raise GroupError(_l("A group needs a code of 1 to %(n)s characters.", n=CODE_MAX))
    if not name or len(name) > NAME_MAX:
        raise GroupError(_l("A group needs a name of 1 to %(n)s characters.", n=NAME_MAX))
    if method not in {m.value for m in AllocationMethod}:
        raise GroupError(_l("Split by fixed shares, floor area or consumption."))
    taken = select(AllocationGroup.id).where(AllocationGroup.site_id == site.id, AllocationGroup.code == code)
    if group is not None:
        taken = taken.where(AllocationGroup.id != group.id)
    if session.execute(taken).first() is not None:
        raise GroupError(_l("This site already has a group %(code)s.", code=code))
    if tariff_id is not None:
        tariff = session.get(Tariff, tariff_id)
        if tariff is None or tariff.site_id != site.id or tariff.kind != TariffKind.FLAT:
            raise GroupError(_l("Choose a flat tariff of this site, or the site's default tariff."))
    return dict(code=code, name=name, method=AllocationMethod(method), tariff_id=tariff_id)


def _check_share(share: int) -> None:
    if type(share) is not int or not 0 <= share <= MAX_SHARE:
        raise GroupError(_l("A fixed share is a whole number from 0 to %(max)s.", max=MAX_SHARE))


def _member(session: Session, group: AllocationGroup, account: Account) -> AllocationMember:
    member = session.get(AllocationMember, (group.id, account.id))
    if member is None:
        raise GroupError(_l("%(code)s is not a member of %(group)s.", code=account.code, group=group.code))
    return member


def _member_codes(session: Session, group: AllocationGroup) -> list[str]:
    return list(session.execute(select(Account.code).join(AllocationMember, AllocationMember.account_id == Account.id)
                                .where(AllocationMember.group_id == group.id).order_by(Account.code)).scalars())


def _plain(value):
    """A value as the audit log's JSON holds it (an enum by its value)."""
    return getattr(value, "value", value)
