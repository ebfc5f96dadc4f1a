"""The order state machine: its table, transitions it refuses, racing moves with one winner, and its wall."""
from __future__ import annotations

import ast
import itertools
import threading
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import NotifyOutcome, OrderStatus, PaymentNotification, PaymentOrder, utcnow
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.states import TRANSITIONS, IllegalTransition, move, sources_of

CREATED, PAID, CLOSED, CREDITED, REFUNDED = (OrderStatus.CREATED, OrderStatus.PAID, OrderStatus.CLOSED,
                                             OrderStatus.CREDITED, OrderStatus.REFUNDED)
#: how an order reaches each status through the table
PATHS = {CREATED: (), PAID: (PAID,), CLOSED: (CLOSED,), CREDITED: (PAID, CREDITED),
         REFUNDED: (PAID, CREDITED, REFUNDED)}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def statements(monkeypatch):
    """statements() -> how many SQL statements the database was sent since the fixture started, counted at the
    driver (psycopg): through SQLAlchemy or straight to the driver alike."""
    sent = []
    execute = psycopg.Cursor.execute

    def counted(cursor, query, *args, **kwargs):
        sent.append(query)
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    return lambda: len(sent)


def at(order: PaymentOrder, status: OrderStatus) -> PaymentOrder:
    """The order walked to `status` along the table, committed."""
    for step in PATHS[status]:
        assert move(db.session, order.id, step)
    db.session.commit()
    return order


def test_the_table_is_the_life_of_an_order():
    assert {(CREATED, PAID), (CLOSED, PAID), (CREATED, CLOSED), (PAID, CREDITED),
                           (CREDITED, REFUNDED), (REFUNDED, CREDITED)} == TRANSITIONS
    assert sources_of(PAID) == (CREATED, CLOSED) and sources_of(CREATED) == ()


@pytest.mark.parametrize("source, to", sorted(TRANSITIONS))
def test_every_transition_of_the_table_moves_once_in_one_statement(make_order, statements, source, to):
    order = at(make_order(), source)
    order_id = order.id
    before = statements()
    assert move(db.session, order_id, to, allowed_from=(source,)) is True
    assert order.status == to  # the loaded order follows without being read again
    assert statements() == before + 1
    assert move(db.session, order_id, to, allowed_from=(source,)) is False
    db.session.commit()
    db.session.expire_all()
    assert order.status == to


@pytest.mark.parametrize("source, to", sorted(set(itertools.product(OrderStatus, OrderStatus)) - TRANSITIONS))
def test_a_transition_outside_the_table_is_refused_before_any_sql(make_order, statements, source, to):
    order = at(make_order(), source)
    order_id = order.id
    before = statements()
    with pytest.raises(IllegalTransition):
        move(db.session, order_id, to, allowed_from=(source,))
    assert statements() == before
    db.session.expire_all()
    assert order.status == source


def test_nothing_moves_an_order_back_to_created(make_order):
    order = at(make_order(), CLOSED)
    with pytest.raises(IllegalTransition, match="to created"):
        move(db.session, order.id, CREATED)


def test_a_move_from_a_status_the_order_is_not_in_changes_nothing(make_order):
    order = make_order()
    assert move(db.session, order.id, CREDITED, credited_at=utcnow()) is False  # created, not paid
    db.session.commit()
    db.session.expire_all()
    assert (order.status, order.credited_at) == (CREATED, None)


def test_a_late_notify_pays_a_closed_order(make_order):
    order = at(make_order(), CLOSED)
    assert move(db.session, order.id, PAID, platform_trade_no="T-late") is True
    db.session.commit()
    db.session.expire_all()
    assert (order.status, order.platform_trade_no) == (PAID, "T-late")


def test_a_threshold_move_writes_its_values_and_moves_only_past_the_threshold(make_order):
    order = at(make_order(1000), CREDITED)

    def refund(fen: int) -> bool:
        total = PaymentOrder.refunded_fen + fen
        return move(db.session, order.id, REFUNDED, when=total >= PaymentOrder.amount_fen, refunded_fen=total)

    assert refund(400) is False
    assert (order.status, order.refunded_fen) == (CREDITED, 400)
    assert refund(600) is True
    db.session.commit()
    db.session.expire_all()
    assert (order.status, order.refunded_fen) == (REFUNDED, 1000)


@pytest.mark.parametrize("to", [PAID, CLOSED, CREDITED])
def test_of_many_racing_moves_exactly_one_wins(app, make_order, to):
    order = at(make_order(), sources_of(to)[0])
    order_id, racers = order.id, 12
    start = threading.Barrier(racers)
    won: list[bool] = []

    def race():
        with app.app_context():
            start.wait()
            won.append(move(db.session, order_id, to))
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(won) == [False] * (racers - 1) + [True]
    db.session.expire_all()
    assert order.status == to


def test_an_accepted_notify_is_one_statement(app, make_order, statements, monkeypatch):
    """The notify path is benchmarked: the order's move, the outbox row and the notification go in one statement,
    with no ORM load (issue 17; it was four statements), and the credit job is handed over once it is committed."""
    order = make_order(1000)
    out_trade_no = order.out_trade_no
    db.session.expire_all()
    handed = []  # the credit job (run at once in tests) has statements of its own, not the notify's
    monkeypatch.setattr(app.extensions["payfirst.dispatcher"], "notify", handed.extend)
    before = statements()
    assert accept_payment(db.session, VerifiedPayment("alipay", out_trade_no, "T-1", 1000, True)) \
        == NotifyOutcome.ACCEPTED
    assert statements() - before == 1  # the order's move, the outbox row, the notification
    # a transaction of its own: committed already, before the session commits anything
    with db.engine.connect() as other:
        assert other.scalar(select(PaymentOrder.status).where(PaymentOrder.out_trade_no == out_trade_no)) \
            == OrderStatus.PAID
    assert [(h.job, h.args) for h in handed] == [("worker.jobs.payments.credit_order", [order.id])]


@pytest.mark.parametrize("status", [PAID, CREDITED, REFUNDED])
def test_a_repeated_notify_is_two_statements_committed_alone(app, make_order, statements, monkeypatch, status):
    """A platform resends a notify until it is answered, and the notify bench sends one in ten again: the repeat
    costs the move that finds nothing to move, then its notification, each a transaction of its own; no
    transaction is left for the request to commit (it was five statements in one, with BEGIN and COMMIT)."""
    order = make_order(1000)
    monkeypatch.setattr(app.extensions["payfirst.dispatcher"], "notify", lambda handovers: None)
    first = VerifiedPayment("alipay", order.out_trade_no, "T-1", 1000, True)
    assert accept_payment(db.session, first) == NotifyOutcome.ACCEPTED
    for step in PATHS[status][1:]:
        assert move(db.session, order.id, step)
    db.session.commit()
    before = statements()
    assert accept_payment(db.session, first, raw="again") == NotifyOutcome.DUPLICATE
    assert statements() - before == 2
    assert not db.session().in_transaction()
    with db.engine.connect() as other:  # committed already
        notes = other.execute(select(PaymentNotification.outcome, PaymentNotification.reason,
                                     PaymentNotification.order_id, PaymentNotification.raw)
                              .order_by(PaymentNotification.id)).all()
    assert notes[-1] == (NotifyOutcome.DUPLICATE, f"order already {status.value}", order.id, "again")


@pytest.mark.parametrize(("trade_no", "amount_fen", "reason"), [
    ("T-2", 1000, "order already paid by trade T-1"),
    ("T-1", 999, "amount 999 fen differs from the order's 1000 fen"),
])
def test_a_repeat_that_does_not_match_the_paid_trade_is_an_anomaly(make_order, trade_no, amount_fen, reason):
    order = make_order(1000)
    assert accept_payment(db.session, VerifiedPayment("alipay", order.out_trade_no, "T-1", 1000, True)) \
        == NotifyOutcome.ACCEPTED
    db.session.commit()
    assert accept_payment(db.session, VerifiedPayment("alipay", order.out_trade_no, trade_no, amount_fen, True)) \
        == NotifyOutcome.ANOMALY
    db.session.commit()
    note = db.session.scalars(select(PaymentNotification).order_by(PaymentNotification.id.desc()).limit(1)).one()
    assert (note.outcome, note.reason, note.order_id) == (NotifyOutcome.ANOMALY, reason, order.id)


def _writes_an_order_status(node: ast.AST) -> bool:
    """An assignment to `.status` or a `status=` keyword whose value names OrderStatus."""
    def names_order_status(value: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id == "OrderStatus" for n in ast.walk(value))

    if isinstance(node, ast.Assign):
        targets = [t for target in node.targets for t in ast.walk(target)]
        return any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets) \
            and names_order_status(node.value)
    return isinstance(node, ast.keyword) and node.arg == "status" and names_order_status(node.value)


def test_every_status_change_goes_through_the_state_machine():
    writers = []
    for path in sorted((ROOT / "portal").rglob("*.py")) + sorted((ROOT / "worker").rglob("*.py")):
        if path == ROOT / "portal" / "payments" / "states.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        writers += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in ast.walk(tree) if _writes_an_order_status(n)]
    assert writers == []
