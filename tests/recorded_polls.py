"""The polls a meter command asks for, recorded instead of run (no gateway here): control and staff tests."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def polls(app):
    """Gateway ids whose poll was asked for; the jobs are recorded instead of run."""
    runner = app.extensions["payfirst.dispatcher"].runner
    requested: list[int] = []
    original = runner.submit
    runner.submit = lambda func, args: requested.extend(args)
    yield requested
    runner.submit = original
