"""Payment platform callbacks (`alipay`, `wechat`) and the demo sandbox's pay page: verified, recorded, handed over."""
from portal.pay import alipay, wechat  # noqa: F401  (routes register on bp)
from portal.pay.blueprint import bp

__all__ = ["bp"]
