"""Declarative base, naming conventions and small column helpers shared by all models."""
from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Enum, Integer, MetaData, TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry

# Stable constraint names make Alembic migrations reproducible on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: 64-bit ids for the big tables; SQLite only auto-increments an INTEGER primary key
BIGINT_PK = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite forgets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given where UTC is required")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        return as_utc(value)


def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp as the database gave it, in UTC: PostgreSQL answers in the session's TimeZone (often
    Asia/Shanghai in China), SQLite forgets the zone. What `UTCDateTime` gives, and what a query sent straight to
    the driver (portal.bulk.driver_rows) applies itself."""
    if value is not None:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


class Base(DeclarativeBase):
    """All models; integers for money (fen), UTC timestamps."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING),
        type_annotation_map={int: BigInteger, datetime: UTCDateTime},
    )


def str_enum(enum_cls: type[enum.Enum], name: str):
    """A string column limited to an enum's values by a CHECK constraint (portable, no native type)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class CreatedMixin:
    """A creation timestamp."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def upsert_insert(session, table):
    """An INSERT that can say ON CONFLICT DO NOTHING on PostgreSQL and on SQLite (the demo) alike."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
