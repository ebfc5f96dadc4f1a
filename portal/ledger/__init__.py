"""The ledger: the one way money moves.

Every change to a shop's money is an append-only entry with a unique idempotency key, and the account's cached
balance moves with it under a row lock in the same transaction, so the balance always equals the sum of the
entries. `entries.post_entry` posts one movement; `bulk.post_many` posts thousands set-wise for the poll cycle
and the monthly runs with the same guarantees. Nothing here decides *why* money moves.
"""
