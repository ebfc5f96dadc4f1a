"""The counter's channel status: cashiers read plain words, only an admin sees which settings are missing."""
from __future__ import annotations

import re

import pytest

from portal.models import Role

EN = {"Accept-Language": "en"}
SETTING = re.compile(r"\b(ALIPAY|WECHAT|PAYFIRST)_[A-Z_]+|PUBLIC_BASE_URL")


@pytest.fixture
def as_role(make_site, make_staff, login):
    site = make_site("mall")

    def log_in(role: Role):
        login.staff(make_staff(role=role, sites=[site]))

    return log_in


@pytest.mark.parametrize("role", [Role.CASHIER, Role.MANAGER])
def test_a_cashier_sees_no_setting_names_for_an_unconfigured_channel(client, as_role, role):
    as_role(role)
    html = client.get("/staff/counter/", headers=EN).get_data(as_text=True)
    assert "not available" in html and "ask an administrator" in html
    assert not SETTING.search(html)


def test_an_admin_sees_which_settings_a_channel_misses(client, as_role):
    as_role(Role.ADMIN)
    html = client.get("/staff/counter/", headers=EN).get_data(as_text=True)
    assert "ALIPAY_APP_ID" in html
