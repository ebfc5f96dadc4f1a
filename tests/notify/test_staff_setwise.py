"""Staff told set-wise: many alarms at once queue the same deliveries as one by one, in a statement or two, and
each crossing once."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import delete, event, select

from portal.alarms import clear_many, raise_many
from portal.extensions import db
from portal.models import AlarmKind, Delivery, NotifyRecipient, utcnow
from portal.notify.alarms import tell_cleared, tell_raised
from portal.notify.route import StaffEvent, tell_staff, tell_staffs
from tests.notify.test_route import around_now
from tests.statements import statements_sent

#: what two tellings must agree on (not the row's id, nor when it was written)
SAME = ("site_id", "account_id", "alarm_id", "event", "audience", "dedupe_key", "recipient_id", "recipient",
        "channel", "fallback", "text", "params", "urgent", "status")


def queued() -> list[tuple]:
    """Every delivery as two tellings must agree on it, sorted; when it is due as "now" or the time it waits for."""
    now = utcnow()
    return sorted((*(getattr(d, c) for c in SAME), "now" if d.due_at <= now else d.due_at)
                  for d in db.session.scalars(select(Delivery)))


def forget() -> None:
    db.session.execute(delete(Delivery))
    db.session.expire_all()




def staff_of_two_sites(make_site, configure) -> list:
    """Two sites with staff who take every event, some events, are off duty now, or have WeChat."""
    configure(WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s", WECHAT_TEMPLATE_METER_OFFLINE="tmpl-offline")
    off_start, off_end, _ = around_now()
    sites = [make_site(), make_site()]
    for n, site in enumerate(sites):
        db.session.add_all([
            NotifyRecipient(site_id=site.id, name="值班电工", phone=f"1380000{n}001", events=[]),
            NotifyRecipient(site_id=site.id, name="财务", phone=f"1380000{n}002", events=["payment_anomaly"]),
            NotifyRecipient(site_id=site.id, name="网关", phone=f"1380000{n}003",
                            events=["gateway_offline", "gateway_online"]),
            NotifyRecipient(site_id=site.id, name="夜班", phone=f"1380000{n}004", duty_start=off_end,
                            duty_end=off_start),
            NotifyRecipient(site_id=site.id, name="微信", phone=f"1380000{n}005", wechat_openid=f"o-staff-{n}"),
            NotifyRecipient(site_id=site.id, name="离职", phone=f"1380000{n}006", active=False)])
    db.session.commit()
    return sites


def offline(sites, make_gateway, make_meter) -> list[dict]:
    """Offline alarms of meters and gateways of both sites, and a tamper alarm."""
    rows = []
    for site in sites:
        gateway = make_gateway(site=site)
        rows.append(dict(kind=AlarmKind.GATEWAY_OFFLINE, subject=f"gateway:{gateway.id}", site_id=site.id,
                         gateway_id=gateway.id, message="gateway silent"))
        for _ in range(12):
            meter = make_meter(gateway=gateway)
            rows.append(dict(kind=AlarmKind.METER_OFFLINE, subject=f"meter:{meter.id}", site_id=site.id,
                             meter_id=meter.id, message="meter silent"))
    rows.append(dict(kind=AlarmKind.TAMPER, subject=f"tamper:{meter.id}", site_id=site.id, meter_id=meter.id,
                     message="count", data={"problem": "purchase count went back"}))
    return rows


def test_many_alarms_raised_at_once_are_told_as_one_by_one(make_site, make_gateway, make_meter, configure):
    sites = staff_of_two_sites(make_site, configure)
    alarms = raise_many(db.session, offline(sites, make_gateway, make_meter))

    with statements_sent() as sql:
        at_once = tell_raised(db.session, alarms)
    together = queued()
    forget()
    one_by_one = sum(tell_raised(db.session, [a]) for a in alarms)

    # per site a gateway (4 recipients take it) and 12 meters (3 each); a tamper alarm (3)
    assert at_once == one_by_one == len(together) == 2 * (4 + 12 * 3) + 3
    assert queued() == together
    assert sum("notify_recipients" in s for s in sql) == 1
    assert sum(s.lstrip().startswith("INSERT INTO deliveries") for s in sql) == 1
    assert {d[SAME.index("channel")] for d in together} == {"log", "wechat"}
    assert any(d[-1] != "now" for d in together)  # the night shift hears it when its duty starts


def test_alarms_told_at_once_are_told_once_per_crossing(make_site, make_gateway, make_meter, configure):
    sites = staff_of_two_sites(make_site, configure)
    alarms = raise_many(db.session, offline(sites, make_gateway, make_meter))
    first = tell_raised(db.session, alarms)

    assert tell_raised(db.session, alarms) == 0
    assert tell_raised(db.session, alarms[:3] + alarms[:3]) == 0
    assert len(queued()) == first


def test_many_alarms_cleared_at_once_are_told_as_one_by_one(make_site, make_gateway, make_meter, configure):
    sites = staff_of_two_sites(make_site, configure)
    rows = offline(sites, make_gateway, make_meter)
    raise_many(db.session, rows)
    closed = [a for kind in (AlarmKind.METER_OFFLINE, AlarmKind.GATEWAY_OFFLINE)
              for a in clear_many(db.session, kind, [r["subject"] for r in rows if r["kind"] == kind])]

    at_once = tell_cleared(db.session, closed)
    together = queued()
    forget()
    one_by_one = sum(tell_cleared(db.session, [a]) for a in closed)

    assert at_once == one_by_one == len(together) == 2 * (4 + 12 * 3)
    assert queued() == together
    assert {d[SAME.index("event")] for d in together} == {"meter_online", "gateway_online"}
    assert tell_cleared(db.session, closed) == 0


def test_tell_staffs_is_tell_staff_for_each(make_site, configure):
    sites = staff_of_two_sites(make_site, configure)
    items = [StaffEvent(site.id, event, f"alarm:{n}", {"site": site.code, "meter": f"E{n}"})
             for n, (site, event) in enumerate((s, e) for s in sites for e in ("meter_offline", "payment_anomaly",
                                                                               "tamper", "gateway_offline"))]

    at_once = tell_staffs(db.session, items)
    together = queued()
    forget()
    one_by_one = sum(tell_staff(db.session, i.site_id, i.event, i.crossing, i.params) for i in items)

    assert at_once == one_by_one == len(together) > 0
    assert queued() == together
    assert tell_staffs(db.session, []) == 0
