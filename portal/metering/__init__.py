"""Metering: what the meters said and what it costs.

What a poll cycle means (`cycle`: latest state, 15-minute readings, validation, offline and tamper alarms,
billable deltas), the plain rows it loads and writes set-wise (`rows`), billing the validated deltas with the
tariffs (`billing`), the meter-mode books — the ledger mirroring what each meter-mode meter holds (`books`:
usage debits; `books_check`: the ledger against the meters) — what meters used over a period (`consumption`),
the daily roll-ups every report reads instead of 15-minute readings (`daily`: kept by the cycle, rebuilt on
demand; `usage`: what a meter, shop or site used per day or month; `partitions`: the readings' monthly
partitions and their retention), and replacing a meter (`swap`). The Modbus side lives in the worker; this
package never talks to a meter.
"""
