"""Reviewer finding "an empty login submit shows nothing": every tenant sign-in form answers an empty submit
with a clear error in the tenant's language, on the page (or in place, for htmx)."""
from __future__ import annotations

import pytest

HX = {"HX-Request": "true"}


def errors_of(html: str) -> list[str]:
    """The texts of the page's alerts (form errors)."""
    import re

    return re.findall(r'role="alert"[^>]*>([^<]+)<', html)


def test_an_empty_demo_login_says_what_is_missing_in_chinese(client):
    page = client.post("/auth/tenant/login", data={"account": "", "phone": ""})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "请输入商铺的户号。" in html and "请输入登记的手机号。" in html
    assert len(errors_of(html)) == 2


def test_an_empty_demo_login_says_it_in_english_for_an_english_browser(client):
    html = client.post("/auth/tenant/login", data={"account": "  ", "phone": ""},
                       headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Enter the shop's account code." in html and "Enter the phone number on file." in html


def test_a_demo_login_missing_only_the_phone_names_the_phone(client):
    html = client.post("/auth/tenant/login", data={"account": "S001", "phone": ""}).get_data(as_text=True)
    assert errors_of(html) == ["请输入登记的手机号。"]
    assert 'value="S001"' in html  # what was typed stays


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_an_empty_mobile_number_is_refused_with_a_message(client, headers):
    answer = client.post("/auth/tenant/login/code", data={"phone": ""}, headers=headers)
    html = answer.get_data(as_text=True)
    assert answer.status_code in (200, 422)
    assert "请输入手机号。" in html and 'data-testid="sms-error"' in html


def test_an_empty_sms_code_is_refused_with_a_message(client):
    html = client.post("/auth/tenant/login/verify", data={"phone": "13900000001", "code": ""},
                       headers=HX).get_data(as_text=True)
    assert "请输入短信中的 6 位验证码。" in html and 'data-testid="sms-error"' in html
