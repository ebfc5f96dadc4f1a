"""/staff/alarms: the alarms of the user's sites, filtered, in the reader's language, acknowledged with a note."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.alarms import raise_alarm
from portal.extensions import db
from portal.models import Alarm, AlarmKind, AuditEntry, Role, utcnow


def rows(html: str) -> list[str]:
    return re.findall(r'data-alarm="(\d+)"', html)


def texts(html: str) -> list[str]:
    return [t.strip() for t in re.findall(r'data-testid="alarm-text">(.*?)</td>', html, re.DOTALL)]


@pytest.fixture
def farm(make_site, make_account, make_gateway, make_meter):
    """A site with a shop on a meter behind a gateway, and each kind of alarm a poll cycle or payment raises."""
    site = make_site("mall")
    shop = make_account(site=site, code="S101", balance_fen=-250)
    gateway = make_gateway(site=site, code="GW1")
    meter = make_meter(account=shop, gateway=gateway, code="E101")
    raise_alarm(db.session, AlarmKind.ARREARS, f"account:{shop.id}", site.id, "S101 balance -250 fen: in arrears",
                data=dict(what="arrears", account="S101", balance_fen=-250, warning_minutes=0), account_id=shop.id)
    raise_alarm(db.session, AlarmKind.OVER_POWER, f"meter:{meter.id}", site.id, "E101: power 9000 W above 8000 W",
                data=dict(what="over_power", meter="E101", power_w=9000, limit_w=8000), meter_id=meter.id,
                account_id=shop.id)
    raise_alarm(db.session, AlarmKind.GATEWAY_OFFLINE, f"gateway:{gateway.id}", site.id,
                "gateway GW1 (10.0.0.5:502) not answering",
                data=dict(what="gateway_offline", gateway="GW1", address="10.0.0.5:502"), gateway_id=gateway.id)
    raise_alarm(db.session, AlarmKind.TAMPER, f"meter:{meter.id}", site.id, "E101: an old sentence, no data",
                meter_id=meter.id)
    db.session.commit()
    return site, shop, gateway, meter


@pytest.fixture
def operator(make_staff, farm, login, client):
    user = make_staff(role=Role.OPERATOR, sites=[farm[0]])
    login.staff(user)
    return user


def test_open_alarms_are_listed_newest_first_in_chinese_by_default(client, operator, farm):
    html = client.get("/staff/alarms").get_data(as_text=True)
    assert len(rows(html)) == 4
    assert rows(html) == sorted(rows(html), key=int, reverse=True)
    said = texts(html)
    assert "网关 GW1（10.0.0.5:502）无应答" in said
    assert "E101: an old sentence, no data" in said  # raised before alarms carried data: the stored sentence


def test_english_readers_read_english(client, operator, farm):
    client.get("/auth/lang/en")
    said = texts(client.get("/staff/alarms").get_data(as_text=True))
    assert "E101: power 9000 W above the limit 8000 W; tripped" in said
    assert "S101: in arrears, balance -¥2.50" in said


@pytest.mark.parametrize("query, expected", [
    ({"kind": "over_power"}, 1), ({"gateway": "GW1"}, 3), ({"shop": "S101"}, 2), ({"meter": "E101"}, 2),
    ({"state": "past"}, 0), ({"state": "all"}, 4), ({"age": "1h"}, 4), ({"shop": "NOPE"}, 0),
])
def test_filters(client, operator, farm, query, expected):
    assert len(rows(client.get("/staff/alarms", query_string=query).get_data(as_text=True))) == expected


def test_past_alarms_and_the_age_filter(client, operator, farm):
    old = db.session.scalars(select(Alarm).where(Alarm.kind == AlarmKind.OVER_POWER)).one()
    old.raised_at, old.cleared_at = utcnow() - timedelta(days=3), utcnow() - timedelta(days=2)
    db.session.commit()
    assert rows(client.get("/staff/alarms?state=past").get_data(as_text=True)) == [str(old.id)]
    assert len(rows(client.get("/staff/alarms?state=all&age=24h").get_data(as_text=True))) == 3
    assert len(rows(client.get("/staff/alarms?state=all&age=7d").get_data(as_text=True))) == 4


@pytest.mark.parametrize("query", [{"state": "everything"}, {"kind": "fire"}, {"age": "99y"}, {"page": "0"},
                                   {"page": "99999999999999999999"}, {"shop": "x" * 41}])
def test_nonsense_filters_are_a_400_never_a_500(client, operator, farm, query):
    assert client.get("/staff/alarms", query_string=query).status_code == 400


def test_htmx_gets_the_table_alone(client, operator, farm):
    html = client.get("/staff/alarms?kind=arrears", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith('<section id="alarm-table"') and len(rows(html)) == 1


def test_acknowledging_records_who_when_and_the_note_once(client, operator, farm):
    alarm = db.session.scalars(select(Alarm).where(Alarm.kind == AlarmKind.GATEWAY_OFFLINE)).one()
    response = client.post(f"/staff/alarms/{alarm.id}/acknowledge", data={"note": "电工已去现场"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and "电工已去现场" in response.get_data(as_text=True)
    db.session.expire_all()
    assert (alarm.acknowledged_by, alarm.ack_note) == (operator.actor, "电工已去现场") and alarm.acknowledged_at
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "alarm.acknowledged")).one()
    assert (entry.actor, entry.target_id, entry.detail["note"]) == (operator.actor, alarm.id, "电工已去现场")
    again = client.post(f"/staff/alarms/{alarm.id}/acknowledge", data={"note": "again"},
                        headers={"HX-Request": "true"})
    assert "role=\"alert\"" in again.get_data(as_text=True)
    db.session.expire_all()
    assert alarm.ack_note == "电工已去现场"


def test_a_note_too_long_is_refused_and_changes_nothing(client, operator, farm):
    alarm = db.session.scalars(select(Alarm)).first()
    response = client.post(f"/staff/alarms/{alarm.id}/acknowledge", data={"note": "x" * 201},
                           headers={"HX-Request": "true"})
    assert 'role="alert"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert alarm.acknowledged_by is None


def test_another_sites_alarms_are_not_seen_nor_acknowledged(client, login, make_staff, make_site, farm):
    login.staff(make_staff(role=Role.MANAGER, sites=[make_site("elsewhere")]))
    assert rows(client.get("/staff/alarms?state=all").get_data(as_text=True)) == []
    alarm = db.session.scalars(select(Alarm)).first()
    assert client.post(f"/staff/alarms/{alarm.id}/acknowledge", data={"note": "x"}).status_code == 404


@pytest.mark.parametrize("role, opens", [(Role.OPERATOR, True), (Role.CASHIER, True), (Role.MANAGER, True),
                                         (Role.ADMIN, True), (Role.AUDITOR, True)])
def test_who_opens_the_page(client, login, make_staff, farm, role, opens):
    login.staff(make_staff(role=role, sites=[] if role == Role.ADMIN else [farm[0]]))
    assert (client.get("/staff/alarms").status_code == 200) is opens


def test_an_auditor_reads_but_cannot_acknowledge(client, login, make_staff, farm):
    login.staff(make_staff(role=Role.AUDITOR, sites=[farm[0]]))
    html = client.get("/staff/alarms").get_data(as_text=True)
    assert len(rows(html)) == 4 and "acknowledge" not in html
    alarm = db.session.scalars(select(Alarm)).first()
    assert client.post(f"/staff/alarms/{alarm.id}/acknowledge", data={"note": "x"}).status_code == 403


SAMPLES = {
    "low_balance": dict(account="S1", balance_fen=900, level=2, level_fen=1000),
    "arrears": dict(account="S1", balance_fen=-5, warning_minutes=0),
    "supply_off": dict(meter="E1", reason="remote"),
    "over_power": dict(meter="E1", power_w=9000, limit_w=8000),
    "meter_offline": dict(meter="E1", why="timeout"),
    "gateway_offline": dict(gateway="G1", address="10.0.0.5:502"),
    "gateway_poll_failed": dict(gateway="G1", error="connection refused"),
    "meter_problem": dict(meter="E1", problem="reading went backwards"),
    "write_failed": dict(meter="E1", write="purchase", error="exception 4"),
    "write_unwritable": dict(meter="E1", write="deduction", error=""),
    "swap_over_books": dict(meter="E1", read_fen=5000, over_fen=1000, books_fen=4000),
    "books_mismatch": dict(account="S1", ledger_fen=100, held_fen=50, queued_fen=0, difference_fen=50),
    "reconciliation": dict(day="2026-12-01", mismatch="paid_not_credited", source="alipay", order="PF1", detail="x"),
    "payment_held": dict(order="PF1", account="S1", why="closed", refund_fen=500),
    "notify_anomaly": dict(source="wechat", order="PF1", why="amount differs"),
}


@pytest.mark.parametrize("what", sorted(SAMPLES))
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_message_id_is_said_in_both_languages_from_its_data(app, what, language):
    from flask_babel import force_locale

    from portal.web.alarm_text import alarm_text

    alarm = Alarm(kind=AlarmKind.TAMPER, message="stored", data=dict(what=what, **SAMPLES[what]))
    with app.test_request_context(), force_locale(language):
        said = alarm_text(alarm)
    assert said != "stored" and "%(" not in said
    code = next(v for k, v in SAMPLES[what].items() if k in ("account", "meter", "gateway", "order", "day"))
    assert code in said


def test_every_message_id_the_code_raises_has_a_sentence():
    """The ids written by the raisers (read from the source) are the table's, so none falls back unseen."""
    from pathlib import Path

    from portal.web.alarm_text import TEXTS

    root = Path(__file__).resolve().parents[2]
    source = "".join(p.read_text() for folder in ("portal", "worker") for p in (root / folder).rglob("*.py"))
    found = re.findall(r'what="([a-z_]+)"(?: if [^"]+ else "([a-z_]+)")?', source)
    raised = {name for pair in found for name in pair if name}
    assert raised and raised <= set(TEXTS) and set(SAMPLES) == raised


def test_an_alarm_links_its_meters_own_page(client, operator, farm):
    site, _shop, _gateway, _meter = farm
    html = client.get("/staff/alarms?kind=over_power").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)">[^<]*E101</a>', html).group(1).replace("&amp;", "&")
    assert link == f"/staff/meters/E101?site={site.code}"
    assert client.get(link).status_code == 200


@pytest.mark.parametrize("reason, zh, en", [
    ("arrears", "余额不足", "balance used up"), ("remote", "物业操作断电", "switched off by the property office"),
    ("over_power", "功率超限", "power above the limit"), ("closure", "已销户", "shop closed"),
    ("unknown", "电表现场断开", "switched off at the meter"),
])
def test_a_supply_off_alarm_says_why_in_the_readers_language(app, reason, zh, en):
    from flask_babel import force_locale

    from portal.web.alarm_text import alarm_text

    alarm = Alarm(kind=AlarmKind.SUPPLY_OFF, message="stored", data=dict(what="supply_off", meter="E1", reason=reason))
    with app.test_request_context():
        with force_locale("zh"):
            assert alarm_text(alarm) == f"电表 E1：已断电（{zh}）"
        with force_locale("en"):
            assert alarm_text(alarm) == f"Meter E1: supply off ({en})"


def test_the_kind_filter_offers_supply_off(client, operator, farm):
    site, shop, _gateway, meter = farm
    raise_alarm(db.session, AlarmKind.SUPPLY_OFF, f"meter:{meter.id}", site.id, "meter E101 supply off (remote)",
                data=dict(what="supply_off", meter="E101", reason="remote"), meter_id=meter.id, account_id=shop.id)
    db.session.commit()
    html = client.get("/staff/alarms?kind=supply_off").get_data(as_text=True)
    assert '<option value="supply_off" selected>已断电</option>' in html
    assert texts(html) == ["电表 E101：已断电（物业操作断电）"]
