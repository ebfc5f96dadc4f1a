"""Payment platform callbacks and the payer's pages: no session, no CSRF on notifies, only signatures."""
from flask import Blueprint

bp = Blueprint("pay", __name__, url_prefix="/pay")

from portal.pay import alipay, wechat  # noqa: E402,F401  (routes register on bp)
