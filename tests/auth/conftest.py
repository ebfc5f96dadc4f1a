"""The SMS sign-in's steps for tests: ask for a code, read it from its queued SMS, type it."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Delivery

HX = {"HX-Request": "true"}


def sent_codes(phone: str) -> list[str]:
    """The codes queued by SMS to this phone, oldest first (read from the deliveries, as the sender would)."""
    db.session.expire_all()
    rows = db.session.scalars(select(Delivery).where(Delivery.event == "login_code", Delivery.recipient == phone)
                              .order_by(Delivery.id))
    return [row.params["code"] for row in rows]


def sms_steps(client) -> SimpleNamespace:
    """send(phone), verify(phone, code), code(phone) and sign_in(phone) on this client."""

    def send(phone: str, address: str = "198.51.100.1", **headers):
        return client.post("/auth/tenant/login/code", data={"phone": phone}, headers=headers,
                           environ_base={"REMOTE_ADDR": address})

    def verify(phone: str, code: str, address: str = "198.51.100.1", query: str = "", **headers):
        return client.post(f"/auth/tenant/login/verify{query}", data={"phone": phone, "code": code}, headers=headers,
                           environ_base={"REMOTE_ADDR": address})

    def sign_in(phone: str, address: str = "198.51.100.1"):
        send(phone, address)
        return verify(phone, sent_codes(phone)[-1], address)

    return SimpleNamespace(send=send, verify=verify, sign_in=sign_in)


@pytest.fixture
def sms(client):
    """The SMS sign-in's steps on the test client."""
    return sms_steps(client)
