"""portal.bulk: set-wise statements that PostgreSQL receives as one array per column."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from portal.bulk import array_literal, insert_rows
from portal.extensions import db
from portal.models import MeterState, Supply

#: strings that would break a hand-made array literal: quotes, backslashes, separators, the word NULL
AWKWARD = ['a"b', "c\\d", "e,f", "{g}", "NULL", "", " h ", "电表", "\\\"", "'"]
AT = datetime(2025, 3, 3, 4, 0, tzinfo=timezone(timedelta(hours=8)))


def test_rows_come_back_exactly_as_written(make_meter):
    meters = [make_meter() for _ in AWKWARD]
    rows = [dict(meter_id=m.id, online=i % 2 == 0, supply_actual=Supply.OFF if i % 3 else None, supply_inferred=False,
                 energy_total=None if i == 4 else 10 ** 12 + i, energy_tou=None if i == 5 else [i, 0, -1, 2 ** 40],
                 power_w=-i, voltage_dv=None, current_ca=None, pf_milli=None, trip_reason=text, remaining_fen=None,
                 purchase_count=None, purchase_total_fen=None, keep_power_actual=None, missed_polls=i,
                 over_limit_reads=0, last_seen_at=AT + timedelta(microseconds=i), updated_at=AT)
            for i, (m, text) in enumerate(zip(meters, AWKWARD))]
    insert_rows(db.session, MeterState.__table__, rows)
    db.session.expire_all()

    back = {s.meter_id: s for s in db.session.execute(select(MeterState)).scalars()}
    for row in rows:
        state = back[row["meter_id"]]
        assert {k: getattr(state, k) for k in row} == row


def test_an_upsert_updates_and_keeps_what_it_is_told_to(make_meter):
    m = make_meter()
    base = dict(meter_id=m.id, online=True, supply_actual=None, supply_inferred=False, energy_total=5,
                energy_tou=[1, 2, 3, 4], power_w=1, voltage_dv=None, current_ca=None, pf_milli=None,
                trip_reason=None, remaining_fen=None, purchase_count=None, purchase_total_fen=None,
                keep_power_actual=None, missed_polls=0, over_limit_reads=0, last_seen_at=AT, updated_at=AT)
    insert_rows(db.session, MeterState.__table__, [base])
    columns = [c for c in base if c != "meter_id"]
    insert_rows(db.session, MeterState.__table__, [{**base, "energy_total": 9, "energy_tou": None}],
                conflict=["meter_id"], update=columns, keep=["energy_tou"])
    db.session.expire_all()

    state = db.session.get(MeterState, m.id)
    assert (state.energy_total, state.energy_tou) == (9, [1, 2, 3, 4])


def test_a_naive_datetime_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="naive"):
        array_literal([datetime(2025, 1, 1)])


def test_integer_and_boolean_fast_paths_write_nulls():
    from sqlalchemy import Boolean, Integer

    assert array_literal([1, None, -3], Integer()) == "{1,NULL,-3}"
    assert array_literal([True, None, False], Boolean()) == "{t,NULL,f}"


def test_instants_of_a_datetime_column_travel_unquoted_and_naive_ones_are_refused():
    from portal.models.base import UTCDateTime

    later = AT + timedelta(microseconds=7)
    assert array_literal([AT, later], UTCDateTime()) == "{2025-03-03T04:00:00+08:00,2025-03-03T04:00:00.000007+08:00}"
    with pytest.raises(ValueError, match="naive"):
        array_literal([AT, datetime(2025, 1, 1)], UTCDateTime())


def test_a_text_column_with_nothing_to_escape_is_joined_whole_and_comes_back_as_written(make_meter):
    plain = [t for t in AWKWARD if '"' not in t and "\\" not in t]  # separators, braces, NULL, blanks stay
    assert array_literal(plain, MeterState.__table__.c.trip_reason.type) == \
        '{"e,f","{g}","NULL",""," h ","电表","\'"}'
    meters = [make_meter() for _ in plain]
    rows = [dict(meter_id=m.id, online=True, supply_inferred=False, missed_polls=0, over_limit_reads=0,
                 trip_reason=text, updated_at=AT) for m, text in zip(meters, plain)]
    insert_rows(db.session, MeterState.__table__, rows)
    db.session.expire_all()
    assert {s.meter_id: s.trip_reason for s in db.session.execute(select(MeterState)).scalars()} == \
        {r["meter_id"]: r["trip_reason"] for r in rows}


def test_repeated_values_and_register_tuples_are_written_as_each_alone_would_be():
    import json

    from sqlalchemy import JSON, Enum

    from portal.models.base import UTCDateTime

    later = AT + timedelta(seconds=1)
    assert array_literal([AT, AT, later, AT], UTCDateTime()) == \
        "{" + ",".join(v.isoformat() for v in (AT, AT, later, AT)) + "}"
    assert array_literal([Supply.ON, Supply.OFF, Supply.ON], Enum(Supply)) == '{"on","off","on"}'
    values = [[1, -2, 2 ** 40], (3,), [], None, [True, 1], {"a": [1]}, ["x"]]
    assert array_literal(values, JSON()) == "{" + ",".join(
        "NULL" if v is None else '"' + json.dumps(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values) + "}"
