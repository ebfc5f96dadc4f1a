"""WeChat Pay notify routes: API v2 (POST /pay/wechat/notify) and API v3 (POST /pay/wechat/v3/notify)."""
from portal.pay import bp  # noqa: F401
