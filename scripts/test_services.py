"""Run a command with PostgreSQL and Redis available for it.

Uses TEST_DATABASE_URL / TEST_REDIS_URL (default: the local servers). When nothing answers there and
the server binaries are installed, starts private servers in a temporary folder, exports their URLs
to the command, and stops them afterwards.

Usage: python scripts/test_services.py -- COMMAND [ARGS...]
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def db_answers(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def pg_bindir() -> str | None:
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs else None


def start_postgres(tmp: str) -> tuple[subprocess.Popen, str]:
    bindir = pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL does not answer at TEST_DATABASE_URL and no server binaries are installed "
                 "(Debian: apt-get install postgresql)")
    data, port = os.path.join(tmp, "pg"), free_port()
    os.makedirs(data)
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(tmp, user.pw_uid, user.pw_gid)
        os.chown(data, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([*as_user, f"{bindir}/postgres", "-D", data, "-p", str(port), "-k", tmp,
                             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "postgres.log"), "w"))
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    wait_for(lambda: db_answers(url), "PostgreSQL", log=os.path.join(tmp, "postgres.log"))
    return proc, url


def start_redis(tmp: str) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("Redis does not answer at TEST_REDIS_URL and redis-server is not installed "
                 "(Debian: apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", tmp, "--logfile", os.path.join(tmp, "redis.log")],
                            stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    wait_for(lambda: redis_answers(url), "Redis")
    return proc, url


def wait_for(check, what: str, seconds: float = 30, log: str | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            if log and os.path.exists(log):
                sys.stderr.write(open(log).read()[-4000:])
            sys.exit(f"{what} did not start within {seconds:.0f} s")
        time.sleep(0.2)


def main(argv: list[str]) -> int:
    if "--" not in argv:
        sys.exit(__doc__)
    command = argv[argv.index("--") + 1:]
    env = dict(os.environ)
    env.setdefault("TEST_DATABASE_URL", DEFAULT_DB)
    env.setdefault("TEST_REDIS_URL", DEFAULT_REDIS)
    started: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="payfirst-services-") as tmp:
        try:
            if not db_answers(env["TEST_DATABASE_URL"]):
                print(f"PostgreSQL does not answer at {env['TEST_DATABASE_URL']}: starting a private one")
                proc, env["TEST_DATABASE_URL"] = start_postgres(tmp)
                started.append(proc)
            if not redis_answers(env["TEST_REDIS_URL"]):
                print(f"Redis does not answer at {env['TEST_REDIS_URL']}: starting a private one")
                proc, env["TEST_REDIS_URL"] = start_redis(tmp)
                started.append(proc)
            return subprocess.call(command, env=env)
        finally:
            for proc in started:
                proc.terminate()
            for proc in started:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
