"""The monthly runs: property fees, common-area allocation, statements.

Billing months in the business time zone (`periods`), the property fee (`fees`), common-area allocation
(`allocation`) and the monthly statements and line loss (`reports`). Every run is idempotent: a rerun posts
nothing new.
"""
