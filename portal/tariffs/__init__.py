"""Tariffs: how energy and water are priced.

The pricing engine (`pricing`: flat, time-of-use and tiered tariffs, exactly, in integers), the versions in
force at an instant (`versions`), and managing tariffs and their versions (`admin`). A tariff is computed
here and nowhere else; metering and the monthly runs call it.
"""
