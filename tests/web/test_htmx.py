"""portal.web.htmx: who gets a partial, who the whole page, and that every answer varies on HX-Request."""
from __future__ import annotations

import html as markup
import json
import re
from pathlib import Path

import pytest

from portal.models import Role

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def manager(login, make_staff):
    login.staff(make_staff(role=Role.MANAGER))


@pytest.mark.parametrize("headers", [
    {"HX-Request": "true", "HX-Boosted": "true"},  # a boosted link swaps the whole body
    {"HX-Request": "true", "HX-History-Restore-Request": "true"},  # htmx rebuilding a page it lost from history
])
def test_a_boosted_link_or_a_history_restore_gets_the_whole_page(client, manager, headers):
    res = client.get("/staff/", headers=headers)

    assert "<html" in res.get_data(as_text=True) and "HX-Request" in res.headers["Vary"]


def test_a_plain_form_post_is_sent_back_to_the_page_with_vary(client, login, make_staff, make_site):
    site = make_site()
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))

    res = client.post(f"/staff/sites/{site.id}/rules", data={"overdraft": "1,000"})

    assert res.status_code == 302 and "HX-Request" in res.headers["Vary"]


def test_no_view_reads_the_htmx_headers_itself():
    """Partial or page is decided in portal/web/htmx.py only."""
    offenders = [str(path.relative_to(ROOT)) for package in ("staff", "tenant", "auth", "api", "web")
                 for path in (ROOT / "portal" / package).glob("*.py")
                 if path.name != "htmx.py" and re.search(r"HX-Request|request\.htmx", path.read_text())]
    assert offenders == []


def test_htmx_keeps_its_default_of_swapping_2xx_only(client):
    """A refused form answers htmx with 200 and the error in its partial: no page tells htmx to swap a 4xx."""
    html = client.get("/auth/staff/login").get_data(as_text=True)

    [config] = re.findall(r'<meta name="htmx-config" content=\'([^\']*)\'>', html)
    # only its inline indicator styles are off (the content security policy refuses inline styles)
    assert json.loads(markup.unescape(config)) == {"includeIndicatorStyles": False}
    assert "vendor/htmx.min.js" in html
