"""Payment providers: the platforms behind one interface.

Alipay (`alipay`), WeChat Pay with its API v2, API v3 and their shared part (`wechat`), and the demo's
sandbox (`sandbox`), each speaking its platform's protocol through the platform's SDK; `registry` finds the
provider of a channel.
"""
