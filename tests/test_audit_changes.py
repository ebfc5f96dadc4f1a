"""What an audit entry says changed, read back from the shapes its detail holds (portal.audit.changes)."""
from __future__ import annotations

import pytest

from portal.audit import change_keys, changes

pytestmark = pytest.mark.no_db


def test_the_changed_convention_gives_each_field_before_and_after():
    detail = {"changed": {"overdraft_limit_fen": [0, 1000], "warning_minutes": [None, 45]}, "note": "x"}

    assert changes(detail) == [("overdraft_limit_fen", 0, 1000), ("warning_minutes", None, 45)]
    assert change_keys(detail) == {"changed"}


def test_older_shapes_are_read_too():
    assert changes({"old": 100, "new": 200}) == [("", 100, 200)]
    assert changes({"meter": "M1", "old_tariff_id": 3, "tariff_id": 4}) == [("tariff_id", 3, 4)]
    assert changes({"old_code": "M1", "new_code": "M2", "carried_fen": 5}) == [("code", "M1", "M2")]
    assert change_keys({"old_code": "M1", "new_code": "M2", "carried_fen": 5}) == {"old_code", "new_code"}


def test_a_detail_without_a_change_has_none():
    assert changes(None) == [] and changes({"amount_fen": 5, "old_x": 1}) == []
    assert changes({"changed": {"bad": [1, 2, 3], "worse": "text"}}) == []
