"""Importing this module registers every job, so a worker can resolve any job name."""
from portal.payments import credit  # noqa: F401
from worker import poller, schedule  # noqa: F401
