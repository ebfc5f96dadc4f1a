"""WeChat official-account login (网页授权, snsapi_base): openid → tenant, bound to a shop once.

/auth/wechat/start sends the visitor to WeChat with a state bound to this session; the callback turns
the code into an openid. A known openid logs in; an unknown one binds itself to a shop, with its account code and
either the phone on file or the binding code printed on its bills and meter-box sticker (portal.auth.binding), and
logs in. Failed tries are limited as on /auth/tenant/bind: per WeChat user and per address. JSAPI payments then use
the tenant's openid.
"""
from __future__ import annotations

import hmac
import secrets

import requests
from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth

from portal import settings
from portal.audit import audit
from portal.auth import sessions
from portal.auth.binding import bind_by_code, tidy_code
from portal.auth.blueprint import bp, safe_next
from portal.auth.forms import WechatBindForm
from portal.auth.guards import BIND_PER_ADDRESS, PER_ADDRESS, PER_OPENID, failed, too_many_binding_tries
from portal.extensions import db, limiter
from portal.models import Account, AccountStatus, TenantBinding, TenantUser

STATE_KEY, NEXT_KEY, OPENID_KEY = "wechat_oauth_state", "wechat_oauth_next", "wechat_pending_openid"


class _OAuth(WeChatOAuth):
    """wechatpy's OAuth client with a timeout, on bases a stand-in can replace (WECHAT_API_BASE...)."""

    def __init__(self, redirect_uri: str, state: str = ""):
        wechat = settings.current().wechat
        super().__init__(wechat.app_id, wechat.app_secret, redirect_uri, scope="snsapi_base", state=state)
        self.API_BASE_URL = (wechat.api_base or WeChatOAuth.API_BASE_URL).rstrip("/") + "/"
        self.OAUTH_BASE_URL = (wechat.open_base or WeChatOAuth.OAUTH_BASE_URL).rstrip("/") + "/"

    def _request(self, method, url_or_endpoint, **kwargs):
        kwargs.setdefault("timeout", (5, 10))
        return super()._request(method, url_or_endpoint, **kwargs)


def _configured() -> bool:
    return settings.current().wechat.oauth_configured


def _callback_url() -> str:
    return settings.public_url(url_for("auth.wechat_callback"))


def _to_login(message: str):
    flash(message, "error")
    return redirect(url_for("auth.tenant_login"))


@bp.get("/wechat/start")
def wechat_start():
    """Send the visitor to WeChat's authorize page with a fresh state kept in the session."""
    if not _configured():
        return _to_login(_("WeChat login is not set up here. Log in with your account code and phone."))
    state = secrets.token_urlsafe(16)
    session[STATE_KEY] = state
    session[NEXT_KEY] = safe_next(url_for("tenant.home"))
    return redirect(_OAuth(_callback_url(), state).authorize_url)


@bp.get("/wechat/callback")
def wechat_callback():
    """WeChat came back with a code: check the state, get the openid, log in or ask to bind a shop."""
    expected = session.pop(STATE_KEY, None)
    given = request.args.get("state", "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        return _to_login(_("That WeChat login link has expired. Please try again."))
    code = request.args.get("code", "")
    if not code or not _configured():
        return _to_login(_("WeChat login was cancelled."))
    try:
        openid = _OAuth(_callback_url()).fetch_access_token(code)["openid"]
    except (WeChatOAuthException, requests.RequestException, KeyError, ValueError):
        return _to_login(_("WeChat did not confirm the login. Please try again."))
    if not isinstance(openid, str) or not 0 < len(openid) <= 64:
        return _to_login(_("WeChat did not confirm the login. Please try again."))
    tenant = db.session.execute(select(TenantUser).where(TenantUser.wechat_openid == openid)).scalar_one_or_none()
    if tenant is not None and tenant.accounts:
        return _login(tenant)
    session[OPENID_KEY] = openid
    return redirect(url_for("auth.wechat_bind"))


def _pending_openid() -> str:
    return "openid:" + str(session.get(OPENID_KEY, ""))


@bp.route("/wechat/bind", methods=["GET", "POST"])
@limiter.limit(PER_ADDRESS, methods=["POST"])
@limiter.limit(PER_OPENID, key_func=_pending_openid, methods=["POST"], deduct_when=failed,
               error_message=too_many_binding_tries)
@limiter.limit(BIND_PER_ADDRESS, methods=["POST"], deduct_when=failed, error_message=too_many_binding_tries)
def wechat_bind():
    """Bind this WeChat to a shop: the account code, and the phone number on file or the shop's binding code."""
    openid = session.get(OPENID_KEY)
    if not openid:
        return redirect(url_for("auth.tenant_login"))
    form = WechatBindForm()
    if form.validate_on_submit():
        account_code, typed = form.account.data.strip(), tidy_code(form.binding_code.data)
        tenant = (bind_openid_by_code(db.session, openid, account_code, typed) if typed
                  else bind_openid(db.session, openid, account_code, form.phone.data.strip()))
        if tenant is not None:
            db.session.commit()
            session.pop(OPENID_KEY, None)
            return _login(tenant)
        db.session.rollback()
        flash(_("No shop has that account code and binding code. Check both on the bill or the meter-box sticker.")
              if typed else
              _("No shop with that account code and phone number, or it is bound to another WeChat."), "error")
    elif form.is_submitted():
        flash(next(iter(form.errors.values()))[0], "error")
    return render_template("auth/wechat_bind.html", form=form)


def bind_openid_by_code(s, openid: str, code: str, typed: str) -> TenantUser | None:
    """Bind the shop with this account code and binding code to the WeChat's tenant (theirs, or a new one with this
    openid and no phone); None if no shop matches."""
    tenant = s.execute(select(TenantUser).where(TenantUser.wechat_openid == openid)).scalar_one_or_none()
    if tenant is None:
        tenant = TenantUser(wechat_openid=openid)
        s.add(tenant)
        s.flush()
    shops = bind_by_code(s, tenant, code, typed)
    if not shops:
        return None
    if not tenant.name:
        tenant.name = shops[0].tenant_name
    for account in shops:
        audit(s, tenant.actor, "tenant.wechat_bound", "account", account.id, account.site_id, by="binding_code")
    s.flush()
    return tenant


def bind_openid(s, openid: str, code: str, phone: str) -> TenantUser | None:
    """Give the shop's tenant (found, or created from the account's phone) this openid; None if no match."""
    tenant = s.execute(select(TenantUser).where(TenantUser.phone == phone)).scalar_one_or_none()
    accounts = [a for a in tenant.accounts if a.code == code] if tenant else []
    if not accounts:
        accounts = list(s.execute(select(Account).where(
            Account.code == code, Account.phone == phone, Account.status == AccountStatus.ACTIVE)).scalars())
    if not accounts or (tenant is not None and tenant.wechat_openid not in (None, openid)):
        return None
    if tenant is None:
        tenant = TenantUser(name=accounts[0].tenant_name, phone=phone)
        s.add(tenant)
        s.flush()
    stale = s.execute(select(TenantUser).where(TenantUser.wechat_openid == openid,
                                               TenantUser.id != tenant.id)).scalar_one_or_none()
    if stale is not None:  # an earlier tenant with this openid and no shop left
        stale.wechat_openid = None
        s.flush()
    bound = {a.id for a in tenant.accounts}
    for account in accounts:
        if account.id not in bound:
            s.add(TenantBinding(tenant_user_id=tenant.id, account_id=account.id))
        audit(s, tenant.actor, "tenant.wechat_bound", "account", account.id, account.site_id)
    tenant.wechat_openid = openid
    s.flush()
    s.expire(tenant, ["accounts"])
    return tenant


def _login(tenant: TenantUser):
    target = session.pop(NEXT_KEY, None) or url_for("tenant.home")
    sessions.begin(tenant)
    return redirect(target)
