"""Alipay: its open API (`api`: starting, querying, closing, refunding, the daily bill), its notifies
(`notify`: RSA2 verification and what a notify says) and the provider that serves the registry (`provider`)."""
