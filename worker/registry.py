"""Importing this module registers every job, so a worker can resolve any job name."""
from worker import jobs, poller, schedule  # noqa: F401
