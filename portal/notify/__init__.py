"""Telling people (SPEC §3 "Nobody is left uninformed"): events about a shop or a site become messages, routed to
their recipients' channels, sent with retries and logged.

`channels` holds one small module per way out (WeChat template messages, Aliyun SMS, a GSM modem, the demo's
log), each behind the one interface of `channels.base`.

The engine tells in the transaction where a thing happens, through `route`: alarms opened and closed through
`alarms` (whatever raised them), work waiting for approval through `approvals`; money credited, fees and
allocations, emergency credit and supply switching where they are posted or confirmed (portal.payments.credit,
portal.control.emergency, portal.monthly, portal.metering.supply). `params` writes what the sentences say.
"""
