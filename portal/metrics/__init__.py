"""Prometheus metrics: `/metrics` (web.py) with the web processes' request counts and, read at scrape time, the
state of the queues, the gateways, the meters and the messages (state.py); `polls.py` is what a poll job leaves
behind for it. The worker imports `polls` only, never the web side.
"""
