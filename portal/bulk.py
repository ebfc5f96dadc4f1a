"""Set-wise statements for the jobs that touch every shop at once (poll cycles, billing, monthly runs).

On PostgreSQL each column travels as one array parameter (INSERT ... SELECT FROM unnest(...)): one round
trip and one short statement to plan, however many rows. Row-by-row VALUES cost a statement per row, and
multi-row VALUES a statement text the driver must parse whole. SQLite (the embedded demo) gets plain
executemany.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, String, Table, any_, bindparam, func, text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

#: rows per statement: PostgreSQL takes each column as one array parameter, so this is about memory
CHUNK = 20_000


def chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    """Slices of at most `size` items."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def driver_rows(session: Session, sql: str, params: Sequence) -> list[tuple]:
    """The rows of one query sent straight to the driver (psycopg, PostgreSQL only) in the session's transaction:
    plain tuples, read in PostgreSQL's binary format (an array parameter goes as `%b`, binary too). For the few
    queries that fetch a row per meter every cycle, where SQLAlchemy's result processing cost more than the rows
    (10,030 states: 49 -> 35 ms of CPU).

    Nothing is converted: a timestamp comes back in the session's time zone (`portal.models.as_utc` it), an enum
    as its text."""
    session.flush()  # the query bypasses the session: send what it holds first
    with session.connection().connection.driver_connection.cursor(binary=True) as cursor:
        return cursor.execute(sql, params).fetchall()


def among(session: Session, column, values: Sequence):
    """`column IN values` as one array parameter on PostgreSQL (no 10,000-parameter statement to compile).

    A typed array parameter, never a text literal cast to an array (as `insert_rows` sends its columns): the
    planner cannot fold such a cast, so it neither counts nor hashes the elements, and a 5,000-key lookup in the
    ledger scanned it for 9 s instead of probing its index."""
    if postgresql(session):
        item = String() if isinstance(column.type, String) else BigInteger() if isinstance(
            column.type, BigInteger) else Integer()
        return column == any_(bindparam(None, list(values), type_=ARRAY(item)))
    return column.in_(list(values))


def loaded(session: Session, model) -> list:
    """The objects of `model` loaded in the session, to keep in step after a set-wise UPDATE of their rows.

    A scan of the identity map: in the set-wise paths it holds a handful of objects, where looking up each
    updated row's identity key would cost as much as the statement.
    """
    return [obj for obj in session.identity_map.values() if isinstance(obj, model)]


def insert_rows(session: Session, table: Table, rows: Sequence[dict], *, conflict: Sequence[str] = (),
                update: Sequence[str] = (), keep: Sequence[str] = (), returning: str | None = None) -> list:
    """Insert many rows (same keys each); a row that hits the `conflict` unique columns is skipped, or
    with `update` updates those columns instead (those in `keep` only where the new value is not NULL).

    Returns the `returning` column's values.
    """
    if not rows:
        return []
    columns = list(rows[0])
    found: list = []
    if not postgresql(session):
        stmt = sqlite.insert(table)
        if conflict and update:
            stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_={
                c: func.coalesce(stmt.excluded[c], table.c[c]) if c in keep else stmt.excluded[c] for c in update})
        elif conflict:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
        for part in chunks(rows, 5000):
            if returning:
                found += session.execute(stmt.returning(table.c[returning]), list(part)).scalars().all()
            else:
                session.execute(stmt, list(part))
        return found
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(f"CAST(:c{i} AS {table.c[c].type.compile(dialect)}[])" for i, c in enumerate(columns))
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) SELECT * FROM unnest({arrays})"
    if conflict:
        target = f" ON CONFLICT ({', '.join(quote(c) for c in conflict)})"
        if update:
            sets = ", ".join(f"{quote(c)} = COALESCE(EXCLUDED.{quote(c)}, {quote(table.name)}.{quote(c)})"
                             if c in keep else f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update)
            sql += f"{target} DO UPDATE SET {sets}"
        else:
            sql += f"{target} DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(returning)}"
    for part in chunks(rows):
        params = {f"c{i}": array_literal([r[c] for r in part], table.c[c].type) for i, c in enumerate(columns)}
        result = session.execute(text(sql), params)
        if returning:
            found += result.scalars().all()
    return found


def update_rows(session: Session, table: Table, key: str, rows: Sequence[dict]) -> None:
    """UPDATE table SET <the rows' other keys> WHERE <key> = the row's: one statement per chunk on PostgreSQL
    (UPDATE ... FROM unnest(...)), executemany on SQLite. Every row has the same keys."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    if not postgresql(session):
        stmt = table.update().where(table.c[key] == bindparam(f"_{key}")).values(
            {c: bindparam(f"_{c}") for c in columns})
        session.execute(stmt, [{f"_{c}": r[c] for c in (key, *columns)} for r in rows])
        return
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    names = [key, *columns]
    arrays = ", ".join(f"CAST(:c{i} AS {table.c[c].type.compile(dialect)}[])" for i, c in enumerate(names))
    sets = ", ".join(f"{quote(c)} = v.{quote(c)}" for c in columns)
    sql = (f"UPDATE {quote(table.name)} AS t SET {sets} FROM unnest({arrays}) AS v({', '.join(map(quote, names))}) "
           f"WHERE t.{quote(key)} = v.{quote(key)}")
    for part in chunks(rows):
        session.execute(text(sql), {f"c{i}": array_literal([r[c] for r in part], table.c[c].type)
                                    for i, c in enumerate(names)})


def array_literal(values: Sequence, type_=None) -> str:
    """A PostgreSQL array literal ('{1,NULL,"a \\"b\\""}') of the values, to be CAST to the column's array type.

    Built here with str.join: the driver's own list adaptation walks every element in Python and was the
    slowest part of a 10,000-row statement. `type_` (the column's SQLAlchemy type) picks a fast path for
    integers and booleans and JSON encoding for JSON; every other non-NULL element is quoted, so no value
    can be mistaken for NULL or split at a comma or brace (text and enum columns without NULLs the quickest way).
    A column of a few distinct values (a cycle's one instant, a kind) is written once per value, not per row.
    """
    if isinstance(type_, JSON):
        body = ",".join(map(_json_element, values))
    elif isinstance(type_, Integer):  # BigInteger too
        body = ",".join(map(str, values)) if None not in values else ",".join(
            "NULL" if v is None else str(v) for v in values)
    elif isinstance(type_, Boolean):
        body = ",".join(map(_BOOLEAN.__getitem__, values))
    elif isinstance(getattr(type_, "impl", type_), DateTime) and None not in values:
        # a cycle's instants, ten thousand a statement: ISO 8601 needs no quoting in an array literal
        distinct = set(values)
        if any(v.tzinfo is None for v in distinct):
            raise ValueError("naive datetime: the database keeps UTC instants")
        body = _each_once(values, distinct, datetime.isoformat)
    elif isinstance(type_, SAEnum) and None not in values:
        body = _each_once(values, set(values), lambda v: _quote(v.value if isinstance(v, Enum) else v))
    elif isinstance(type_, String) and None not in values:  # keys, memos: text already
        texts = list(map(str, values))
        whole = "".join(texts)
        if '"' in whole or "\\" in whole:
            body = ",".join(map(_quote, texts))
        else:  # nothing to escape: each quoted by the separators
            body = '"' + '","'.join(texts) + '"' if texts else ""
    else:
        body = ",".join(map(_element, values))
    return "{" + body + "}"


def _each_once(values: Sequence, distinct: set, text) -> str:
    """The elements' texts joined, `text` called once per distinct value where they repeat."""
    if len(distinct) * 2 > len(values):
        return ",".join(map(text, values))
    texts = {v: text(v) for v in distinct}
    return ",".join(map(texts.__getitem__, values))


def _json_element(value) -> str:
    if value is None:
        return "NULL"
    if type(value) in (list, tuple) and all(type(x) is int for x in value):
        # a meter's register tuple: json.dumps's own text, without its encoder's set-up per value
        return '"[' + ", ".join(map(str, value)) + ']"'
    return _quote(json.dumps(value))


_BOOLEAN = {True: "t", False: "f", None: "NULL"}


def _element(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Enum):
        value = value.value
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the database keeps UTC instants")
        value = value.isoformat()
    elif not isinstance(value, str):
        value = str(value)  # Decimal, date
    return _quote(value)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
