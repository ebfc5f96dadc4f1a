"""For the tests that start the app as a real server process (gunicorn, honcho): a free port, and waiting until it
answers."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    """A port nothing listens on now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(base: str, process: subprocess.Popen, seconds: float = 90,
                       ready=lambda: True) -> None:
    """Until `base`/healthz answers 200 and `ready()` says so; fails at once, with its output, if the process
    exits, and after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.communicate()[0] or ""
            text = out if isinstance(out, str) else out.decode(errors="replace")
            raise AssertionError(f"{process.args[:3]} exited: {text}")
        try:
            if urllib.request.urlopen(f"{base}/healthz", timeout=5).status == 200 and ready():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{base} did not answer within {seconds:g} s")
