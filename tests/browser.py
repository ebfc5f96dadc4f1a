"""Shared plumbing for the tests that drive real headless Chromium (Debian's package) at phone size."""
from __future__ import annotations

import re
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
#: WeChat's in-app browser on an iPhone: what a tenant scanning the meter-box sticker uses
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.50(0x1800323b) NetType/WIFI Language/zh_CN"
)
#: without the background-networking flags Chromium tries to reach Google's hosts at every start
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: a loaded CI machine (two pytest workers and Chromium on two cores) is slower than a laptop
expect.set_options(timeout=15_000)

@contextmanager
def served(app):
    """The app served by werkzeug on 127.0.0.1 (an ephemeral port) in a thread; yields its base URL. (Its front-end
    files are there: an app without them does not start, portal/assets.py.)"""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="payfirst-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def chromium():
    """A headless Chromium browser."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page(base_url: str, *, width: int, height: int, locale: str, accept_dialogs: bool = False):
    """A page of a fresh headless Chromium at this size and language, its relative URLs on `base_url`."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale, base_url=base_url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        if accept_dialogs:  # hx-confirm asks before a destructive action
            page.on("dialog", lambda dialog: dialog.accept())
        yield page


@contextmanager
def wechat_phone(browser, base_url: str, *, width: int = 390, height: int = 844):
    """A page of a phone inside WeChat (its user agent, Chinese preferred, touch) at this size, its relative URLs on
    `base_url`; `page.requested` lists every request made and `page.finished` every one that completed."""
    context = browser.new_context(viewport={"width": width, "height": height}, user_agent=WECHAT_UA, locale="zh-CN",
                                  base_url=base_url, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.requested, page.finished = [], []
    page.on("request", lambda request: page.requested.append(request))
    page.on("requestfinished", lambda request: page.finished.append(request))
    try:
        yield page
    finally:
        context.close()


#: where the browser tests leave screenshots of what a person saw, to be looked at (a CJK font must be installed)
SCREENSHOTS = Path(tempfile.gettempdir()) / "payfirst-screens"


def screenshot(page, name: str) -> Path:
    """Keep a full-page screenshot of what the test sees now, as SCREENSHOTS/<name>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def foreign_requests(urls: list[str]) -> list[str]:
    """Requests that left the machine: any scheme with a host other than 127.0.0.1."""
    return [
        u
        for u in urls
        if urlparse(u).scheme not in ("data", "blob", "about")
        and urlparse(u).hostname != "127.0.0.1"
    ]


def log_in_staff(page, username: str, password: str) -> None:
    """Sign a staff user in through the login form and wait for the staff area."""
    page.goto("/auth/staff/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/staff/"))


def log_in_tenant(page, account_code: str, phone_number: str) -> None:
    """Fill in and send the demo's tenant login form: a tenant of one shop lands on its page, of several on their
    list."""
    page.goto("/auth/tenant/login")
    page.fill("input[name=account]", account_code)
    page.fill("input[name=phone]", phone_number)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/t/(a/\d+)?$"))  # and for its load event: styles applied


#: registered before any script of a page runs: every violation the page's document sees is handed to the test
_CSP_LISTENER = """document.addEventListener("securitypolicyviolation", (e) => window.__payfirstCsp(
  `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber} ${e.sample}`));"""


def watch_csp(context) -> list[str]:
    """Collect the CSP violations of every page of `context`: the DOM event and Chromium's console reports."""
    seen: list[str] = []
    context.expose_function("__payfirstCsp", lambda text: seen.append(text))
    context.add_init_script(_CSP_LISTENER)
    context.on("console", lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None)
    return seen


#: axe-core from npm (package.json): read by the tests, never served by the app
AXE = ROOT / "node_modules/axe-core/axe.min.js"
#: the impacts that fail a page
SERIOUS = ("serious", "critical")


def axe_violations(page, *, impacts: tuple[str, ...] = SERIOUS, within: str | None = None) -> list[dict]:
    """Run axe-core on the page as it is now (or on the part of it `within` selects): its violations of these
    impacts (serious and critical by default), each {id, impact, help, targets}, for an assertion `== []` to print.

    The script is evaluated through the DevTools protocol, not added as a <script>: the pages' CSP refuses inline
    scripts, and the test must not loosen it to look.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    found = page.evaluate("""async (within) => (await axe.run(within || document, {resultTypes: ["violations"]}))
        .violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                 targets: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}))""", within)
    return [v for v in found if v["impact"] in impacts]


def small_targets(page, within: str = "body", minimum: int = 44) -> list[str]:
    """The visible links, buttons and form controls in `within` whose touch target is under `minimum` px tall or
    wide: an input counts with its <label> (tapping the label focuses or ticks it). Each as "tag text WxH"."""
    return page.evaluate("""([within, minimum]) => {
        const found = [];
        for (const scope of document.querySelectorAll(within)) {
          const controls = "a[href], button, summary, select, input:not([type=hidden])";
          for (const el of [scope, ...scope.querySelectorAll(controls)].filter((e) => e.matches(controls))) {
            if (!el.offsetParent && getComputedStyle(el).position !== "fixed") continue;  // not shown
            const target = el.labels && el.labels.length ? el.labels[0] : el;
            const box = target.getBoundingClientRect();
            if (box.height < minimum || box.width < minimum) {
              found.push(`${el.tagName.toLowerCase()} ${(el.innerText || el.name || "").trim().slice(0, 20)} ` +
                         `${Math.round(box.width)}x${Math.round(box.height)}`);
            }
          }
        }
        return found;
    }""", [within, minimum])
