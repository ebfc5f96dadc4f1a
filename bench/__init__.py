"""`make bench`: the SPEC §5 benchmarks, each figure printed beside its bar.

Run with `python -m bench` (the Makefile wraps it in scripts/test_services.py, which makes sure
PostgreSQL and Redis answer and exports TEST_DATABASE_URL). Exit code 1 when any bar fails.
"""
