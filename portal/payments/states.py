"""The order state machine: which status a payment order may take after which, and the one way to change it.

    created ──► paid ──► credited ◄──► refunded
       │          ▲
       ▼          │  a late notify: the payer paid after we closed the order, and the money is real
     closed ──────┘

Every status change of a `PaymentOrder` goes through `move`: one conditional `UPDATE ... WHERE status IN
(sources) RETURNING`. No row is read first and no lock is held, so any number of transactions racing to move
the same order (two notifies, a notify and the recovery sweep, two credit jobs) end with exactly one winner;
the others get False and decide what that means. A transition that is not in the table is a programming
error, refused with `IllegalTransition` before any SQL is sent.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from sqlalchemy import ColumnElement, case, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.models import AccountStatus, OrderStatus, PaymentOrder
from portal.pool import alone as statement_alone

CREATED, PAID, CLOSED, CREDITED, REFUNDED = (OrderStatus.CREATED, OrderStatus.PAID, OrderStatus.CLOSED,
                                             OrderStatus.CREDITED, OrderStatus.REFUNDED)

#: every (from, to) an order may take, and nothing else
TRANSITIONS: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset({
    (CREATED, PAID),  # a verified notify, or the sweep's query, says it was paid
    (CLOSED, PAID),  # a notify arriving after the order was closed: paid all the same
    (CREATED, CLOSED),  # expired, and closed at the platform
    (PAID, CREDITED),  # the credit job posted the payment to the ledger
    (CREDITED, REFUNDED),  # the refunded sum reached the order's amount
    (REFUNDED, CREDITED),  # a refund reversed: the platform reported it failed after accepting it
})


class IllegalTransition(ValueError):
    """A move the table does not allow (a bug in the caller, never a race)."""


#: for each status, the statuses an order may reach it from (in OrderStatus order), worked out once
_SOURCES = {to: tuple(s for s in OrderStatus if (s, to) in TRANSITIONS) for to in OrderStatus}


def sources_of(to: OrderStatus) -> tuple[OrderStatus, ...]:
    """The statuses an order may move to `to` from."""
    return _SOURCES[to]


def sources_sql(to: OrderStatus) -> str:
    """`sources_of(to)` as a list of SQL string literals, for an `IN (...)` in a statement written by hand."""
    return ", ".join(f"'{s.value}'" for s in sources_of(to))


def move(session: Session, order_id: int, to: OrderStatus, *, allowed_from: Iterable[OrderStatus] | None = None,
         when: ColumnElement[bool] | None = None, **values) -> bool:
    """Move one order to `to` from one of `allowed_from` (default: every source in the table), writing `values`.

    True when this statement moved it; False when the order was in none of those statuses (someone else moved
    it first, or it never was there). One statement, RETURNING what it wrote, so an order already loaded in
    the session is kept in step without reading it back (or expired, when it did not move).

    With `when` (a SQL condition on the row as it was), the move is a threshold: the order takes `values` in
    any source status and in `to` itself, and its status becomes `to` only where the condition holds — a
    refund adds to refunded_fen in every case, and the order becomes refunded once the sum reaches its amount.
    The answer is then whether the order is now in `to`.
    """
    sources = sources_of(to) if allowed_from is None else tuple(allowed_from)
    illegal = [s.value for s in sources if (s, to) not in TRANSITIONS]
    if not sources or illegal:
        raise IllegalTransition(f"an order cannot move from {', '.join(illegal) or 'anywhere'} to {to.value}")
    orders = PaymentOrder.__table__
    if when is None:
        status, matches = to, orders.c.status.in_(sources)
    else:
        status, matches = case((when, to.value), else_=orders.c.status), orders.c.status.in_((*sources, to))
    columns = [orders.c.status, *(orders.c[name] for name in values)]
    row = session.execute(
        update(orders).where(orders.c.id == order_id, matches).values(status=status, **values).returning(*columns)
    ).one_or_none()
    keep_in_step(session, order_id, **({} if row is None else {c.name: v for c, v in zip(columns, row)}))
    return row is not None and row.status == to


def move_by_trade(session: Session, out_trade_no: str, to: OrderStatus, *, amount_fen: int, values: dict,
                  then: dict[str, str], params: dict, alone: bool = False):
    """Move the order `out_trade_no` to `to` from one of its sources, only if it is of `amount_fen`, writing `values`
    (None keeps a column's value), and in the same statement write what follows from it: `then` names INSERTs
    that read the move's row (`moved`: the order's id, account_id, the written columns and `active`, whether its
    account is active) and return an `id`; `params` are their %(name)s parameters.

    The row (moved's columns, then each of `then`'s ids by its name), or None when nothing moved and nothing was
    written. For the hot path of a notify: one round trip where `move` and the inserts after it are several. An
    order loaded in the session is kept in step.

    `alone` sends the statement as a transaction of its own (`portal.pool.alone`): committed when it returns,
    whatever becomes of the session's transaction; the move and what follows from it together or not at all.
    """
    sql = _move_by_trade_sql(to, tuple(values), tuple(then.items()))
    bound = {**params, "set_status": to.value, "move_trade_no": out_trade_no, "move_amount_fen": amount_fen,
             **{f"set_{name}": value for name, value in values.items()}}
    if alone:
        row = statement_alone(session, sql, bound)
    else:
        row = session.connection().exec_driver_sql(sql, bound).one_or_none()
    if row is not None:
        keep_in_step(session, row.id, status=to, **{name: getattr(row, name) for name in values})
    return row


@lru_cache(maxsize=32)
def _move_by_trade_sql(to: OrderStatus, names: tuple[str, ...], then: tuple[tuple[str, str], ...]) -> str:
    """`move_by_trade`'s statement, written once per shape (a notify's is the same every time)."""
    sources = sources_sql(to)
    sets = ", ".join(f"{name} = COALESCE(%(set_{name})s, o.{name})" for name in names)
    return (
        f"WITH moved AS (UPDATE payment_orders AS o SET status = %(set_status)s, {sets} FROM accounts AS a "
        f"WHERE o.out_trade_no = %(move_trade_no)s AND o.amount_fen = %(move_amount_fen)s AND a.id = o.account_id "
        f"AND o.status IN ({sources}) "
        f"RETURNING o.id, o.account_id, {', '.join(f'o.{name}' for name in names)}, "
        f"a.status = '{AccountStatus.ACTIVE.value}' AS active), "
        + ", ".join(f"{name} AS ({insert})" for name, insert in then)
        + f" SELECT moved.*, {', '.join(f'{name}.id AS {name}' for name, _ in then)} "
        f"FROM moved, {', '.join(name for name, _ in then)}"
    )


def keep_in_step(session: Session, order_id: int, **written) -> None:
    """After a move written in SQL: an order loaded in the session takes the values written, or is expired when
    nothing was (another transaction moved it: it is read again when next used)."""
    loaded = session.identity_map.get(identity_key(PaymentOrder, order_id))
    if loaded is None:
        return
    if not written:
        session.expire(loaded)
        return
    for name, value in written.items():
        set_committed_value(loaded, name, value)
