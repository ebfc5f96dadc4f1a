"""Telling people (SPEC §3 "Nobody is left uninformed"): events about a shop or a site become messages, routed to
their recipients' channels, sent with retries and logged.

`events` names what happens and its sentence; `route` turns an event into deliveries (who, on which channels,
when: preferences, quiet hours, duty hours), in the caller's transaction; `kick` wakes the senders after it
commits; `send` is the sender (a job per queue: `notify`, and `sms_modem` for the GSM modem), `claims` a
delivery's states in SQL, `registry` the process's channels, `hours` the windows of the day. `channels` holds one
small module per way out (WeChat template messages, Aliyun SMS, a GSM modem, the demo's log), each behind the one
interface of `channels.base`. `deliveries` reads the delivery log back for staff and the
API and queues a message again; `recipients` keeps a site's staff recipients.

The engine tells in the transaction where a thing happens, through `route`: alarms opened and closed through
`alarms` (whatever raised them), work waiting for approval through `approvals`; money credited, fees and
allocations, emergency credit and supply switching where they are posted or confirmed (portal.payments.credit,
portal.control.emergency, portal.monthly, portal.metering.supply). `params` writes what the sentences say.
"""
