"""Sessions for two kinds of people: staff (password) and tenants (WeChat, an SMS code, the demo's login).

`blueprint` (/auth), `views` (logins, logout, language), `password` (a staff user's own), `wechat` (the official
account's OAuth), `sms` (a mobile number and its SMS code, with `login_codes` below it), `bind` (a tenant binds a
shop, with `binding` below it) and `sessions` (loading the user of a session, and the login redirect).
"""
from portal.auth import bind, password, sms, views, wechat  # noqa: F401  (routes register on bp)
from portal.auth.blueprint import bp

__all__ = ["bp"]
