"""Payment providers: the platforms behind one interface (`base.Provider`), found by channel (`registry`).

Alipay (`alipay`: its gateway calls, its notifies, its provider), WeChat Pay (`wechat`: API v3, API v2,
what both share, and the provider that picks one) and the demo's sandbox
(`sandbox`), each speaking its platform's protocol through the platform's SDK.
"""
