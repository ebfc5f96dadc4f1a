"""Sites: getting a mall into PayFirst.

The spreadsheet import of gateways, accounts, meters and tariffs (`sheets` describes the file, `checks` checks it
row by row, `importer` writes it all or nothing) and the demo site built on it (`demo`); and what the office keeps
about a shop besides its money: notes and which tenant users see it (`shop_records`).
"""
