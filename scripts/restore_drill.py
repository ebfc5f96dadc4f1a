"""The restore drill: a backup is only a backup once it has been restored.

    python scripts/restore_drill.py [DUMP.pgdump]      # DATABASE_URL: the database the dump is of

Without a dump file it first makes one of DATABASE_URL (`pg_dump -Fc`, as the nightly backup does:
docs/deploy.md). It restores the dump into a new database beside it, runs `flask --app wsgi ledger check` there
(every balance equals the sum of its entries; meter-mode shops agree with their meters), and compares every
shop's balance with the source's: equal when the source has not moved since the dump (a drill on a copy, or
with the app stopped), otherwise the differences are listed as what happened since. The restored database is
dropped afterwards unless --keep. Exit status 0 only when the check passed and every balance is there.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

BALANCES = "SELECT code, balance_fen FROM accounts ORDER BY code"


def plain(url: str) -> str:
    """The URL as libpq and the PostgreSQL tools take it (SQLAlchemy's driver suffix removed)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def beside(url: str, name: str) -> str:
    base, _, _ = plain(url).rpartition("/")
    return f"{base}/{name}"


def dump(url: str, path: Path) -> None:
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={path}", plain(url)], check=True)


def restore(url: str, path: Path, name: str) -> str:
    """A new database `name` beside `url`'s, holding the dump; its URL."""
    with psycopg.connect(beside(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    target = beside(url, name)
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={target}", str(path)], check=True)
    return target


def balances(url: str) -> dict[str, int]:
    with psycopg.connect(plain(url)) as conn:
        return dict(conn.execute(BALANCES).fetchall())


def differences(source: dict[str, int], restored: dict[str, int]) -> list[str]:
    """Shops whose balance is not the same in both, as lines to print."""
    return [f"{code}: restored {restored.get(code)} != source {source.get(code)}"
            for code in sorted(source.keys() | restored.keys()) if source.get(code) != restored.get(code)]


def ledger_check(url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": plain(url).replace("postgresql://", "postgresql+psycopg://", 1)}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "ledger", "check"], env=env,
                          capture_output=True, text=True)


def drill(url: str, dump_file: Path | None = None, keep: bool = False) -> tuple[bool, list[str]]:
    """Restore a dump of `url` (made now unless given), check it; (passed, what it found)."""
    name = f"payfirst_restore_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        if dump_file is None:
            dump_file = Path(tmp) / "payfirst.pgdump"
            dump(url, dump_file)
        target = restore(url, dump_file, name)
        try:
            checked = ledger_check(target)
            restored = balances(target)
            moved = differences(balances(url), restored)
            found = [line for line in (checked.stdout + checked.stderr).splitlines() if line.strip()]
            found += [*moved, f"{len(restored)} shops restored into {name}"]
            return checked.returncode == 0 and not moved, found
        finally:
            if not keep:
                with psycopg.connect(beside(url, "postgres"), autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dump", nargs="?", type=Path, help="a pg_dump -Fc file of DATABASE_URL (default: make one now)")
    ap.add_argument("--keep", action="store_true", help="keep the restored database")
    args = ap.parse_args(argv)
    url = os.environ.get("DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        print("DATABASE_URL must name the PostgreSQL database the dump is of", file=sys.stderr)
        return 2
    passed, found = drill(url, args.dump, args.keep)
    print("\n".join(found))
    print("restore drill passed" if passed else "restore drill FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
