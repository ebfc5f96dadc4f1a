"""The counter (收费台): what a cashier does with money in person.

Cash and transfer recharges, reversals (冲正), account closure (销户), balance transfers (`operations`) and
the day's sales report (`daily_report`). Refunds of platform payments belong to payments; replacing a meter
to metering, even when the counter screen asks for it.
"""
