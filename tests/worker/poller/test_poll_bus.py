"""One RS485 bus carries one request at a time, whoever polls or commands it and however many at once."""
from __future__ import annotations

import threading

from portal.control.commands import command_meter
from portal.extensions import db
from portal.models import Supply
from tests.worker.poller.farm import GW, TIMEOUT, M
from worker.poller import run_cycle

#: 9600 baud with 20 ms answers: about 40 ms a request, so cycles of three meters overlap for sure
FARM = (GW("GW1", tuple(M(u, balance_fen=10_000, load=1_000) for u in (1, 2, 3)), baud=9_600),)


def _cycles_at_once(app, f, n: int) -> list[BaseException]:
    """Run n poll cycles of the gateway in n threads (each its own session), released together."""
    start, errors = threading.Barrier(n), []

    def one() -> None:
        with app.app_context():
            try:
                start.wait(5)
                run_cycle(db.session, [f.gateway_ids["GW1"]], timeout=TIMEOUT, now=f.now)
                db.session.commit()
            except BaseException as exc:  # reported to the test below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_concurrent_cycles_with_commands_never_overlap_requests_on_one_bus(app, farm):
    f = farm(*FARM)
    f.cycle()
    command_meter(db.session, f.meter("GW1", 1), "trip", "staff:alice")
    command_meter(db.session, f.meter("GW1", 3), "trip", "staff:bob")
    db.session.commit()
    gateway = f.sim.gateway("GW1")
    gateway.max_in_flight = 0

    assert _cycles_at_once(app, f, 3) == []

    assert gateway.max_in_flight == 1
    assert [f.snapshot("GW1", u)["supply"] for u in (1, 2, 3)] == ["off", "on", "off"]
    db.session.expire_all()
    assert [f.meter("GW1", u).state.supply_actual for u in (1, 2, 3)] == [Supply.OFF, Supply.ON, Supply.OFF]
