"""A meter-mode shop's page: the ledger balance, which mirrors the meter, and what each meter holds."""
from __future__ import annotations

from portal.extensions import db
from portal.models import ControlMode, Supply


def test_the_shop_page_shows_what_each_meter_mode_meter_holds(client, make_account, make_meter, make_tenant, login):
    acct = make_account(code="S200", name="Tea shop", balance_fen=4_321)
    make_meter(account=acct, code="P200", control_mode=ControlMode.METER,
               state={"online": True, "supply_actual": Supply.ON, "remaining_fen": 4_321})
    make_meter(account=acct, code="E201", state={"online": True, "supply_actual": Supply.ON, "remaining_fen": 99})
    login.tenant(make_tenant([acct]), acct)

    html = client.get(f"/t/a/{acct.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)

    assert 'data-testid="balance">¥43.21<' in html
    assert html.count('data-testid="in-meter"') == 1  # the platform-mode meter holds no money
    assert "In the meter: ¥43.21" in html
    db.session.rollback()
