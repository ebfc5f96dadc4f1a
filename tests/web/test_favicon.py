"""The site icon: linked from both base templates, and /favicon.ico answers instead of a 404."""
from __future__ import annotations

import re

from portal.models import Role

ICON_LINK = re.compile(r'<link rel="icon" href="/static/favicon\.svg" type="image/svg\+xml">')


def test_favicon_ico_leads_to_the_svg_icon(client):
    res = client.get("/favicon.ico")
    assert res.status_code == 301 and res.headers["Location"].endswith("/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert b"<svg" in icon.data
    icon.close()


def test_staff_pages_link_the_icon(client, login, make_staff):
    login.staff(make_staff(role=Role.ADMIN))
    assert ICON_LINK.search(client.get("/staff/").get_data(as_text=True))


def test_tenant_pages_link_the_icon(client):
    assert ICON_LINK.search(client.get("/auth/tenant/login").get_data(as_text=True))
