"""The counter (收费台): what a cashier does with money in person.

Cash and transfer recharges, reversals (冲正) and balance transfers (`operations`), account closure (销户,
`closure`), manual adjustments (`adjustments`), the checks they share (`guards`) and the day's sales report
(`daily_report`). Closure, transfers, adjustments and recharges above the site's limit wait for a manager's
approval (`portal.approvals`), which then calls these. Refunds of platform payments belong to payments;
replacing a meter to metering, even when the counter screen asks for it.
"""
