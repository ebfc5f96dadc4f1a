"""Payments: orders and their state machine, verified notifies, exactly-once crediting, refunds, recovery, bills,
and the invoice requests (发票) for money paid in (`invoices`).

The providers (`providers`: Alipay, WeChat Pay v3/v2, the demo sandbox) talk to the platforms through their SDKs
behind one interface; this package's core decides what a verified payment means for the ledger and the meters, and
every change of an order's status goes through `states`.
"""
