"""Payments: orders, verified notifies, exactly-once crediting, counter operations, reconciliation.

Channel modules (alipay, wechat v2/v3, the demo sandbox) talk to the platforms through their SDKs; this
package's core decides what a verified payment means for the ledger and the meters.
"""
