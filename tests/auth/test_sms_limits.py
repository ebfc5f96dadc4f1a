"""How often codes go out and may be guessed at: per phone and per address (a 429 that says why), counting only
codes that went out."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import LoginCode
from tests.auth.conftest import sent_codes, sms_steps
from tests.auth.test_login_guards import limited

PHONE = "13912345678"


def let_a_minute_pass() -> None:
    """The codes were asked for a minute ago: another may be sent (what the limiter counts is its own)."""
    db.session.expire_all()
    for row in db.session.scalars(select(LoginCode)):
        row.created_at -= timedelta(seconds=61)
    db.session.commit()


def test_a_sixth_code_in_an_hour_to_one_phone_is_refused_with_a_reason(limited):
    steps = sms_steps(limited.test_client())
    for n in range(5):
        assert steps.send(PHONE, address=f"203.0.113.{n}").status_code == 200
        let_a_minute_pass()
    refused = steps.send(PHONE, address="203.0.113.99")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    html = refused.get_data(as_text=True)
    assert "发往该号码的验证码次数过多" in html and 'class="tenant-bar"' in html
    assert len(sent_codes(PHONE)) == 5


def test_asking_again_within_the_minute_sends_nothing_and_counts_nothing(limited):
    steps = sms_steps(limited.test_client())
    for _ in range(8):
        assert steps.send(PHONE).status_code == 200
    assert len(sent_codes(PHONE)) == 1
    for _ in range(4):
        let_a_minute_pass()
        assert steps.send(PHONE).status_code == 200
    assert len(sent_codes(PHONE)) == 5


def test_a_21st_code_in_an_hour_from_one_address_is_refused(limited):
    steps = sms_steps(limited.test_client())
    for n in range(20):
        assert steps.send(f"139000000{n:02d}").status_code == 200
    refused = steps.send("13900000099")
    assert refused.status_code == 429
    assert "此网络获取验证码的次数过多" in refused.get_data(as_text=True)
    assert steps.send("13900000099", address="198.51.100.200").status_code == 200  # another network may


def test_htmx_gets_the_reason_in_the_flash_area(limited):
    steps = sms_steps(limited.test_client())
    for n in range(20):
        steps.send(f"139000000{n:02d}")
    refused = steps.send("13900000099", **{"HX-Request": "true"})
    assert refused.status_code == 429 and refused.headers["HX-Retarget"] == "#flash"
    assert "此网络获取验证码的次数过多" in refused.get_data(as_text=True)


def test_wrong_codes_for_one_phone_are_held_back_whatever_the_address(limited):
    steps = sms_steps(limited.test_client())
    steps.send(PHONE)
    code = sent_codes(PHONE)[0]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for n in range(10):
        assert steps.verify(PHONE, wrong, address=f"203.0.113.{n}").status_code == 422
    refused = steps.verify(PHONE, code, address="203.0.113.77")
    assert refused.status_code == 429 and "该号码输错验证码的次数过多" in refused.get_data(as_text=True)


def test_a_right_code_does_not_count_against_the_phone(limited):
    steps = sms_steps(limited.test_client())
    steps.send(PHONE)
    for _ in range(9):
        assert steps.verify(PHONE, "000000x").status_code == 422
    let_a_minute_pass()
    steps.send(PHONE)
    assert steps.verify(PHONE, sent_codes(PHONE)[-1]).status_code == 303
    assert steps.verify(PHONE, "000000x").status_code == 422  # the tenth failure: still answered
    assert steps.verify(PHONE, "000000x").status_code == 429
