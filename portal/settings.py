"""Settings read from the environment, once, through small typed helpers."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def env_str(name: str, default: str | None = None) -> str | None:
    """Return a stripped environment value, or the default when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int) -> int:
    """Return an integer environment value; a malformed one is a startup error."""
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from None


def env_bool(name: str, default: bool = False) -> bool:
    """Return a boolean environment value (1/true/yes/on)."""
    raw = env_str(name)
    if raw is None:
        return default
    return raw.lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything configurable, as SPEC §4 names it."""

    database_url: str
    redis_url: str | None
    secret_key: str
    public_base_url: str
    tz_business: str
    testing: bool = False
    #: the remaining variables (payment keys, SMS...) are read by their own modules
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Settings":
        """Build settings from the process environment."""
        INSTANCE_DIR.mkdir(exist_ok=True)
        database_url = env_str("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'payfirst.db'}")
        secret = env_str("SECRET_KEY")
        if secret is None:
            if not database_url.startswith("sqlite"):
                # Production (PostgreSQL) never runs on a made-up secret.
                raise RuntimeError("SECRET_KEY must be set when DATABASE_URL is not the embedded SQLite demo")
            secret = _demo_secret()
        return cls(
            database_url=normalise_db_url(database_url),
            redis_url=env_str("REDIS_URL"),
            secret_key=secret,
            public_base_url=env_str("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
            tz_business=env_str("TZ_BUSINESS", "Asia/Shanghai"),
        )


def normalise_db_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _demo_secret() -> str:
    """A per-installation random secret for the embedded demo, kept under instance/."""
    path = INSTANCE_DIR / "demo-secret-key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
