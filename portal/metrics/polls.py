"""How long each gateway's last poll cycle took, kept in one Redis hash for `/metrics` to read (portal.metrics.state).

The poll job writes one field per run: an HSET of a few bytes, nothing in the database (the cycle's own
transaction stays as it was). Without Redis (the demo) nothing is kept.
"""
from __future__ import annotations

import logging

import redis

#: gateway id -> seconds of its last poll cycle
POLL_SECONDS_KEY = "payfirst:metrics:poll_seconds"

log = logging.getLogger(__name__)


def record_poll_seconds(conn: redis.Redis | None, gateway_id: int, seconds: float) -> None:
    """Remember the duration of a gateway's last cycle; a Redis hiccup costs the figure, never the poll."""
    if conn is None:
        return
    try:
        conn.hset(POLL_SECONDS_KEY, str(gateway_id), f"{seconds:.3f}")
    except redis.RedisError as exc:
        log.warning("poll duration of gateway %s not recorded: %s", gateway_id, exc)


def poll_seconds(conn: redis.Redis) -> dict[int, float]:
    """Seconds of the last cycle by gateway id (gateways never polled by a job are absent)."""
    return {int(k): float(v) for k, v in conn.hgetall(POLL_SECONDS_KEY).items()}
