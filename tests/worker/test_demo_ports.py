"""`demo run` never assumes a port is free: a taken gateway port is moved, a taken web port replaced."""
from __future__ import annotations

import socket

from portal.extensions import db
from worker.cli import _any_free_port, _claim_gateway_ports, _free


def test_a_gateway_whose_port_is_taken_is_simulated_on_a_free_one(make_site, make_gateway):
    site = make_site(code="demo-ports")
    with socket.socket() as other_service:
        other_service.bind(("127.0.0.1", 0))
        other_service.listen()
        taken = other_service.getsockname()[1]
        busy = make_gateway(site=site, code="GW-BUSY", port=taken)
        idle = make_gateway(site=site, code="GW-IDLE", port=_any_free_port("127.0.0.1"))
        idle_port = idle.port

        moved = _claim_gateway_ports("demo-ports")

        db.session.refresh(busy)
        db.session.refresh(idle)
        assert moved == [f"gateway GW-BUSY: port {taken} is taken, simulated on {busy.port}"]
        assert busy.port != taken and _free("127.0.0.1", busy.port)
        assert idle.port == idle_port  # a free port is kept


def test_a_port_someone_listens_on_is_not_free():
    with socket.socket() as other_service:
        other_service.bind(("127.0.0.1", 0))
        other_service.listen()
        assert not _free("127.0.0.1", other_service.getsockname()[1])
