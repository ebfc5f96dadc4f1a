"""Fixtures of the poller tests: a simulated farm per test, polls recorded, a Redis-backed app.

Polls that commands ask for (request_poll, after commit) are recorded instead of run inline, so each
test drives the cycles itself at the simulated time it chooses.
"""
from __future__ import annotations

import socket

import pytest

from tests.worker.poller.farm import GW, Farm, start_farm


@pytest.fixture(params=["thread", "child"], autouse=True)
def bus_mode(request, monkeypatch) -> str:
    """Every poller test twice: its buses on a thread (a poll job's one gateway), and in a child process (as a
    cycle of many buses runs them: worker/buses.py)."""
    if request.param == "child":
        monkeypatch.setattr("worker.buses.CHILD_FROM_GATEWAYS", 1)
        monkeypatch.setattr("worker.buses.CHILD_FROM_METERS", 1)
    return request.param


@pytest.fixture
def polls(app, monkeypatch):
    """Gateway ids whose poll was requested (after commit); the jobs are recorded, not run inline."""
    requested: list[int] = []
    runner = app.extensions["payfirst.dispatcher"].runner

    def record(func, args):
        assert func.job_name == "worker.jobs.polling.poll_gateway_job"
        requested.extend(args)

    monkeypatch.setattr(runner, "submit", record)
    return requested


@pytest.fixture
def farm(polls):
    """farm(GW(...), ...) -> Farm, its simulator stopped after the test."""
    started: list[Farm] = []

    def build(*gateways: GW) -> Farm:
        started.append(start_farm(*gateways))
        return started[-1]

    yield build
    for f in started:
        f.sim.stop()


@pytest.fixture
def refused_port() -> int:
    """A loopback port nobody listens on: a gateway there is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
