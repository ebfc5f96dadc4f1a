"""The wheel is the whole app: built from this checkout, installed in a new virtualenv outside any checkout and run
by gunicorn there, it serves Chinese pages whose htmx works (issue 16: a `pip install .` once served English pages
without htmx or WeUI).

The wheel is built offline (no build isolation: the build system's pins are in the test extras) and installed
without its dependencies, which the new virtualenv finds in this one's site-packages through a .pth file (pip
would otherwise fetch ~100 packages for every run). That file adds the third-party packages only: the editable
install of this checkout is a .pth of its own there, which Python does not read from a folder a .pth added; the
test checks that `portal` and `wsgi` are the wheel's.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import ROOT, chromium, screenshot, wechat_phone
from tests.servers import free_port, wait_until_healthy

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def installed_wheel(tmp: Path) -> Path:
    """The wheel built from the checkout, installed in a new virtualenv; its python."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist"), str(ROOT)], check=True, timeout=300)
    [wheel] = (tmp / "dist").glob("payfirst-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True, timeout=120)
    python = tmp / "venv" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   timeout=120)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_wheel_installed_outside_the_checkout_serves_chinese_pages_with_htmx(tmp_path, empty_database):
    python = installed_wheel(tmp_path)
    run = tmp_path / "run"  # the working directory: no checkout anywhere near
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYFIRST", "FLASK", "TENANT_DEMO"))}
    env.update(DATABASE_URL=empty_database, SECRET_KEY="wheel-test-secret", SMS_BACKEND="log",
               PYTHONPATH="", NOTIFY_QUIET_HOURS="off")
    env.pop("REDIS_URL", None)
    where = subprocess.run([python, "-c", "import portal, wsgi; print(portal.__file__); print(wsgi.__file__)"],
                           cwd=run, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert all(str(tmp_path / "venv") in path for path in where), where
    subprocess.run([python, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=run, env=env, check=True,
                   capture_output=True, timeout=300)
    port = free_port()
    server = subprocess.Popen([python, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"], cwd=run,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server)
        assert urllib.request.urlopen(f"{base}/static/vendor/htmx.min.js").read().startswith(b"var htmx")
        with chromium() as browser, wechat_phone(browser, base, width=360, height=640) as page:
            page.goto("/auth/tenant/login")
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(page.get_by_role("button", name="发送验证码")).to_be_visible()
            assert page.evaluate("typeof htmx === 'object' && htmx.version.startsWith('2.')")
            assert page.evaluate("[...document.styleSheets].some(s => (s.href || '').endsWith('/vendor/weui.min.css')"
                                 " && s.cssRules.length > 500)")  # WeUI's stylesheet is served, whole
            page.get_by_label("手机号").fill("13800138000")
            page.get_by_role("button", name="发送验证码").click()
            expect(page.get_by_test_id("sms-sent")).to_contain_text("8000")  # swapped in by htmx
            assert page.url.endswith("/auth/tenant/login")  # no page load: htmx posted and swapped
            screenshot(page, "wheel-install-sms-login")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert "Traceback" not in output, output

