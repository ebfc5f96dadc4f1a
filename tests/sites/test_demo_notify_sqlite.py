"""`demo seed` on the embedded demo (SQLite) sets up its messages: staff recipients, binding codes and sticker
tokens, one code and sticker printed; a second seed adds nothing; what the demo tells is sent on the log channel.

A small mall (one bus of 12 shops) and one day of history keep it fast.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

import portal.sites.demo as demo_site
from portal.auth.binding import binding_code_matches
from portal.cli.demo_notify import CODE_FILE, RECIPIENTS, SHOWN_SHOP
from portal.models import Account, AuditEntry, Delivery, DeliveryStatus, NotifyRecipient, Site

pytestmark = pytest.mark.no_db


def state(db) -> SimpleNamespace:
    """What the seed left of the demo's messages, as plain values."""
    return SimpleNamespace(
        recipients=db.session.execute(select(NotifyRecipient.name, NotifyRecipient.phone, NotifyRecipient.events,
                                             NotifyRecipient.duty_start, NotifyRecipient.duty_end)
                                      .order_by(NotifyRecipient.phone)).all(),
        codes=dict(db.session.execute(select(Account.code, Account.binding_code_hash)).all()),
        tokens=dict(db.session.execute(select(Account.code, Account.sticker_token)).all()),
        audits=db.session.scalar(select(func.count()).select_from(AuditEntry)),
    )


@pytest.fixture
def seeded(sqlite_app, tmp_path, monkeypatch):
    """The demo seeded twice on SQLite with its jobs inline: each run's output and what it left."""
    from portal.extensions import db

    app = sqlite_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 30}}, JOBS_INLINE=True)
    instance = tmp_path / "instance"
    instance.mkdir()
    monkeypatch.setattr(app, "instance_path", str(instance))
    monkeypatch.setattr(demo_site, "GATEWAYS", 1)
    monkeypatch.setattr(demo_site, "SHOPS_PER_GATEWAY", 12)
    monkeypatch.setattr(demo_site, "COMMON_PER_GATEWAY", 8)
    runs = []
    for _ in range(2):
        result = app.test_cli_runner().invoke(args=["demo", "seed", "--port", "5123", "--history-days", "1"])
        assert result.exit_code == 0, result.output
        db.session.expire_all()
        runs.append(SimpleNamespace(output=result.output, state=state(db)))
    return SimpleNamespace(app=app, db=db, first=runs[0], second=runs[1], instance=instance)


def test_the_seed_adds_the_staff_recipients_with_their_events_and_duty_hours(seeded):
    recipients = seeded.first.state.recipients
    assert [r.phone for r in recipients] == sorted(r.phone for r in RECIPIENTS)
    electrician = next(r for r in recipients if "electrician" in r.name)
    assert "gateway_offline" in electrician.events and "payment_anomaly" not in electrician.events
    assert (electrician.duty_start.hour, electrician.duty_end.hour) == (8, 22)
    manager = next(r for r in recipients if "manager" in r.name)
    assert "reconciliation_mismatch" in manager.events and manager.duty_start is None


def test_every_demo_shop_gets_a_binding_code_and_a_sticker_token(seeded):
    codes, tokens = seeded.first.state.codes, seeded.first.state.tokens
    assert len(codes) == 12 and all(codes.values()) and all(tokens.values())
    assert len(set(tokens.values())) == 12


def test_the_seed_prints_one_shops_binding_code_and_its_sticker_on_the_demos_port(seeded):
    out = seeded.first.output
    code = re.search(rf"Binding code of {SHOWN_SHOP}: (\w{{4}}-\w{{4}})", out).group(1)
    assert binding_code_matches(seeded.first.state.codes[SHOWN_SHOP], code)
    assert f"http://127.0.0.1:5123/r/{seeded.first.state.tokens[SHOWN_SHOP]}" in out
    assert "http://127.0.0.1:5123/staff/notifications" in out


def test_a_second_seed_adds_nothing_and_prints_the_same_code(seeded):
    assert seeded.second.state == seeded.first.state
    assert "Staff recipients: 0 added; binding codes: 0 issued." in seeded.second.output
    code = re.search(rf"Binding code of {SHOWN_SHOP}: (\S+)", seeded.first.output).group(1)
    assert f"Binding code of {SHOWN_SHOP}: {code}" in seeded.second.output
    assert (seeded.instance / CODE_FILE).stat().st_mode & 0o077 == 0  # the kept code: its owner's alone


def test_a_reissued_code_is_not_printed_again(seeded):
    from portal.auth.binding import issue_binding_codes

    db = seeded.db
    shop = db.session.scalars(select(Account).where(Account.code == SHOWN_SHOP)).one()
    issue_binding_codes(db.session, [shop], "staff:1", reissue=True)
    db.session.commit()
    result = seeded.app.test_cli_runner().invoke(args=["demo", "seed", "--port", "5123", "--history-days", "1"])
    assert result.exit_code == 0, result.output
    assert f"Binding code of {SHOWN_SHOP}: reissued since" in result.output
    assert "/staff/accounts/S004" in result.output


def test_what_the_demo_tells_its_shops_and_staff_is_sent_on_the_log_channel(seeded):
    from portal.notify.route import tell_shop, tell_staff

    db = seeded.db
    site = db.session.scalars(select(Site).where(Site.code == demo_site.SITE_CODE)).one()
    shop = db.session.scalars(select(Account).where(Account.code == "S004")).one()
    tell_shop(db.session, shop.id, "payment_credited", "entry:demo-1",
              {"shop": "S004", "shop_name": shop.name, "amount": "100.00", "channel": "alipay", "balance": "150.00"})
    tell_staff(db.session, site.id, "payment_anomaly", "order:demo-1",
               {"site": site.name, "order": "P1", "shop": "S004", "detail": "paid twice"})
    db.session.commit()  # the demo's sender runs inline after the commit

    db.session.expire_all()
    sent = db.session.execute(select(Delivery.event, Delivery.recipient, Delivery.channel, Delivery.status)
                              .order_by(Delivery.event)).all()
    assert sent == [("payment_anomaly", "13700000002", "log", DeliveryStatus.SENT),
                    ("payment_credited", shop.phone, "log", DeliveryStatus.SENT)]
