"""The client address on audit entries: a web act carries it, behind a proxy the real client's; a job or the
command line none, even in a session a request used before (portal.audit, portal.web.client)."""
from __future__ import annotations

from sqlalchemy import select

from portal.audit import audit, client_address
from portal.extensions import db
from portal.models import AuditEntry, Role

LIMIT = "site.counter_limit"


def set_limit(client, site, address: str, **headers):
    """The manager sets the site's counter approval limit (an audited act) from this address."""
    return client.post(f"/staff/sites/{site.id}/approval-limit", data={"counter_limit": "2000"},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


def entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_a_web_act_records_the_client_address(client, login, make_staff, make_site):
    site = make_site()
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))

    set_limit(client, site, "198.51.100.23")

    [entry] = entries(LIMIT)
    assert entry.ip == "198.51.100.23" and entry.detail == {"changed": {"counter_limit_fen": [None, 200000]}}


def test_an_ipv6_client_is_recorded_whole(client, login, make_staff, make_site):
    site = make_site()
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))

    set_limit(client, site, "2001:db8:85a3::8a2e:370:7334")

    assert [e.ip for e in entries(LIMIT)] == ["2001:db8:85a3::8a2e:370:7334"]


def test_behind_a_trusted_proxy_the_forwarded_client_is_recorded(second_app, monkeypatch, make_staff, make_site):
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", "1")
    proxied = second_app().test_client()
    site = make_site()
    user = make_staff(role=Role.MANAGER, sites=[site])
    proxied.post("/auth/staff/login", data={"username": user.username, "password": "correct horse battery"})

    set_limit(proxied, site, "10.0.0.1", **{"X-Forwarded-For": "203.0.113.50"})

    assert [e.ip for e in entries(LIMIT)] == ["203.0.113.50"]


def test_the_address_does_not_outlive_its_request(client, login, make_staff, make_site):
    site = make_site()
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    set_limit(client, site, "198.51.100.23")

    # the test's app context (and so its session) is the one the request used, as a CLI command's would be
    assert client_address(db.session) is None
    audit(db.session, "system:test", "site.calendar_day_set", "site", site.id, site.id)
    db.session.commit()
    assert [e.ip for e in entries("site.calendar_day_set")] == [None]


def test_a_job_in_its_own_app_context_records_no_address(app, make_site):
    site = make_site()
    with app.test_request_context("/staff/", environ_base={"REMOTE_ADDR": "198.51.100.23"}):
        app.preprocess_request()  # the before-request hooks: the request's session knows the address
        assert client_address(db.session) == "198.51.100.23"
        with app.app_context():  # as the in-process queue runs a job (portal.queue.dispatch)
            audit(db.session, "system:job", "site.calendar_day_set", "site", site.id, site.id)
            db.session.commit()
            db.session.remove()
    assert [e.ip for e in entries("site.calendar_day_set")] == [None]


def test_the_command_line_records_no_address(runner, client, login, make_staff, make_site, make_account, make_meter):
    site = make_site(fee_fixed_fen=10_000, fee_trip_enabled=True, protect_holidays=False)
    make_meter(account=make_account(site=site, balance_fen=2_000))
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    set_limit(client, site, "198.51.100.23")  # a request first, in the same app context

    result = runner.invoke(args=["fees", "run", "--month", "2025-03"])

    assert result.exit_code == 0, result.output
    by_cli = list(db.session.scalars(select(AuditEntry).where(AuditEntry.actor == "cli:fees")))
    assert by_cli and {e.ip for e in by_cli} == {None}
