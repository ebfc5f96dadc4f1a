"""Telling people (SPEC §3 "Nobody is left uninformed"): events about a shop or a site become messages, routed to
their recipients' channels, sent with retries and logged.

`channels` holds one small module per way out (WeChat template messages, Aliyun SMS, a GSM modem, the demo's
log), each behind the one interface of `channels.base`. `deliveries` reads the delivery log back for staff and the
API and queues a message again; `recipients` keeps a site's staff recipients.
"""
