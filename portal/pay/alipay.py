"""Alipay notify route (POST /pay/alipay/notify) and the demo sandbox pay page."""
from portal.pay import bp  # noqa: F401
