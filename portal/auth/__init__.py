"""Sessions for two kinds of people: staff (password) and tenants (demo login, WeChat).

`blueprint` (/auth), `views` (logins, logout, language), `password` (a staff user's own), `wechat` (the official
account's OAuth) and `sessions` (loading the user of a session, and the login redirect).
"""
from portal.auth import password, views, wechat  # noqa: F401  (routes register on bp)
from portal.auth.blueprint import bp

__all__ = ["bp"]
