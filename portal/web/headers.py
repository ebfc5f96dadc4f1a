"""Security headers on every answer: a content security policy, no framing, no sniffing, HSTS over https.

Flask-Talisman sets them (one after_request for every blueprint, the static files and the error pages). The policy
allows this origin only: htmx, WeUI and our scripts are files under static/ (no inline script, no inline style,
no `on...=` attribute), images may be data: URLs (WeUI's icons, the payment QR codes). Forms post to this origin
only: the pay pages leave for Alipay's cashier by a link that static/js/pay.js follows, never by a form, and
WeChat's pay sheet is WeixinJSBridge, which WeChat's browser provides without a script of ours.

HSTS is sent only when PUBLIC_BASE_URL is https, and then only on requests that arrived over https (directly or
as the proxy's X-Forwarded-Proto says); the redirect to https is the proxy's job, not ours.
"""
from __future__ import annotations

from flask import Flask, Response
from flask_talisman import Talisman

from portal.settings import Settings

#: 'self' everywhere; nothing inline, nothing from another origin (the vendor files are copied under static/)
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
#: browser features no page of ours uses
PERMISSIONS_POLICY = dict.fromkeys(("camera", "microphone", "geolocation", "payment", "usb"), "()")
ONE_YEAR = 365 * 24 * 3600

talisman = Talisman()


def init_app(app: Flask, settings: Settings) -> None:
    """Send the headers on every response of `app`."""
    talisman.init_app(
        app,
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",  # for browsers older than frame-ancestors
        referrer_policy="strict-origin-when-cross-origin",  # other sites (the payment platforms) see our origin only
        permissions_policy=PERMISSIONS_POLICY,
        strict_transport_security=settings.core.public_base_url.startswith("https://"),
        strict_transport_security_max_age=ONE_YEAR,
        # other hosts of the customer's domain are not ours to pin to https
        strict_transport_security_include_subdomains=False,
        force_https=False,
        # the session cookie's flags stay the app's (secure when PUBLIC_BASE_URL is https): Talisman would force
        # Secure even on the demo's plain http
        session_cookie_secure=False,
        session_cookie_http_only=True,
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE", "Lax"),
    )
    # no page uses a nonce (scripts and styles are files): Talisman's template global would only be an unused name
    app.jinja_env.globals.pop("csp_nonce", None)
    app.after_request(_isolate_window)


def _isolate_window(response: Response) -> Response:
    """A page opened from another site shares no window with it (no window.opener either way)."""
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return response
