"""Receipt numbers: per site and year, in order, with no gaps (2026-000123), given to the printable entries.

An office files its receipts by number; a database id says nothing to it and leaks how busy other sites are.
The number is taken in the posting's own transaction, under the row lock of the site's sequence for that year,
so concurrent counters of one site never share or skip a number, and a rolled-back posting gives its number
back with it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import EntryKind, Receipt, ReceiptSequence
from portal.models.base import upsert_insert
from portal.settings import business_tz

#: the ledger kinds the counter prints receipts for, each numbered as it is posted
RECEIPT_KINDS = frozenset({EntryKind.CASH, EntryKind.REVERSAL, EntryKind.SETTLEMENT, EntryKind.TRANSFER,
                           EntryKind.REFUND, EntryKind.ADJUSTMENT})


def number_receipt(session: Session, entry_id: int, site_id: int, at: datetime) -> str:
    """Give a just-posted entry the site's next receipt number of the year it was posted in (business time)."""
    year = at.astimezone(business_tz()).year
    insert = upsert_insert(session, ReceiptSequence).values(site_id=site_id, year=year, last=1)
    last = session.execute(
        insert.on_conflict_do_update(index_elements=["site_id", "year"],
                                     set_={"last": ReceiptSequence.last + 1})
        .returning(ReceiptSequence.last)
    ).scalar_one()
    number = f"{year}-{last:06d}"
    session.add(Receipt(entry_id=entry_id, site_id=site_id, number=number))
    return number


def receipt_numbers(session: Session, entry_ids: list[int]) -> dict[int, str]:
    """The receipt numbers of these entries (an entry without one is left out)."""
    if not entry_ids:
        return {}
    return dict(session.execute(select(Receipt.entry_id, Receipt.number).where(Receipt.entry_id.in_(entry_ids))).all())


def entry_of_receipt(session: Session, site_id: int, number: str) -> int | None:
    """The ledger entry a site's receipt number was given to (None: no such receipt)."""
    return session.scalar(select(Receipt.entry_id).where(Receipt.site_id == site_id, Receipt.number == number))
