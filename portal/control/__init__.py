"""Control: what a shop's supply should be, and why.

Commands from staff, the API and automation (`commands`), the balance rules of a prepaid shop — low-balance
levels, arrears, its safeguards and restore (`balance`), emergency credit and what money coming in repays
first (`emergency`), the no-trip calendar (`calendar`), keep-power with its reason and end and its expiry
(`keep_power`), a meter's power limit (`power_limit`) — and the request to poll a gateway at once (`polls`).
Everything here only moves the *desired* state and asks for a poll; the worker's poller writes relays.
"""
