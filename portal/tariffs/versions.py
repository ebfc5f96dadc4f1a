"""Tariff versions as plain data, looked up by time: the version in force when consumption began."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.models import TariffVersion
from portal.tariffs.pricing import Version

#: when a version meant to hold "from the beginning" starts (the site import's first prices)
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)


def from_the_beginning(effective_from: datetime) -> bool:
    """Whether a version starts at the beginning of time as this platform knows it (shown as "always").

    A day's slack either side: the start may have been typed as 2000-01-01 in the business time zone.
    """
    return effective_from < BEGINNING + timedelta(days=1)


def _as_version(row: TariffVersion) -> Version:
    return Version(
        kind=row.tariff.kind.value, unit_price_e4=row.unit_price_e4,
        periods=tuple((p["start"], p["end"], p["period"]) for p in row.periods or ()),
        period_prices_e4=row.period_prices_e4,
        tiers=tuple((t.get("upto"), t["price_e4"]) for t in row.tiers or ()),
        medium=(row.tiers or [{}])[0].get("medium"),
    )


class Versions:
    """Every version of the tariffs a billing run needs, loaded once, looked up by time."""

    def __init__(self, session: Session, tariff_ids: set[int]):
        self.by_tariff: dict[int, list[tuple]] = {}
        rows = session.execute(
            select(TariffVersion).options(joinedload(TariffVersion.tariff))
            .where(TariffVersion.tariff_id.in_(tariff_ids)).order_by(TariffVersion.effective_from)
        ).scalars() if tariff_ids else []
        for row in rows:
            self.by_tariff.setdefault(row.tariff_id, []).append((row.effective_from, _as_version(row)))

    def at(self, tariff_id: int | None, at) -> Version | None:
        """The version in force at `at`; None when the tariff has none yet."""
        found = None
        for effective, version in self.by_tariff.get(tariff_id, ()):
            if effective > at:
                break
            found = version
        return found


def version_at(session: Session, tariff_id: int | None, at) -> Version | None:
    """The tariff version in force at `at`, as plain data; None when the tariff has none yet."""
    return Versions(session, {tariff_id} if tariff_id else set()).at(tariff_id, at)
