"""`fees run --month`, `allocate --period` and their places in the RQ cron."""
from __future__ import annotations

from datetime import UTC, datetime, timezone
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AllocationMethod, EntryKind, LedgerEntry
from tests.monthly.conftest import SH, add_readings, month_start
from worker.jobs.monthly import allocation_job, allocation_period, monthly_fees_job
from worker.schedule import monthly_cron
from worker.schedule import periodic as periodic_jobs


def count(kind: EntryKind) -> int:
    return db.session.execute(select(func.count()).where(LedgerEntry.kind == kind)).scalar_one()


def test_fees_run_charges_once_and_a_second_run_posts_nothing(runner, billing_site, make_account):
    site = billing_site(code="MALL", fee_fixed_fen=10_000)
    make_account(site=site, balance_fen=50_000)
    make_account(site=site, balance_fen=2_000)
    first = runner.invoke(args=["fees", "run", "--month", "2025-03"])
    assert first.exit_code == 0, first.output
    assert "MALL 2025-03: 2 shops charged ¥200.00 (debited ¥119.99, fee arrears ¥80.01)" in first.output
    second = runner.invoke(args=["fees", "run", "--month", "2025-03", "--site", "MALL"])
    assert second.exit_code == 0 and "0 shops charged" in second.output
    assert count(EntryKind.FEE) == 2


def test_fees_run_refuses_a_malformed_month_or_unknown_site(runner):
    assert runner.invoke(args=["fees", "run", "--month", "2025-13"]).exit_code == 2
    assert runner.invoke(args=["fees", "run"]).exit_code == 2
    assert "no site NOPE" in runner.invoke(args=["fees", "run", "--month", "2025-03", "--site", "NOPE"]).output


def test_allocate_posts_once_and_a_second_run_posts_nothing(runner, billing_site, make_account, make_gateway,
                                                            make_meter, make_group):
    site = billing_site()
    common = make_meter(gateway=make_gateway(site=site))
    add_readings(common, [1_000], month_start(2025, 3))
    shops = [make_account(site=site, balance_fen=10_000) for _ in range(3)]
    make_group(site, AllocationMethod.FIXED, [common], dict.fromkeys(shops, 1))
    first = runner.invoke(args=["allocate", "--period", "2025-03"])
    assert first.exit_code == 0, first.output
    assert "LIGHTS 2025-03: ¥10.00 over 3 shops" in first.output
    second = runner.invoke(args=["allocate", "--period", "2025-03", "--group", "LIGHTS"])
    assert "already allocated, nothing posted" in second.output
    assert count(EntryKind.ALLOCATION) == 3


def test_allocate_refuses_a_period_that_is_not_over(runner):
    result = runner.invoke(args=["allocate", "--period", f"{datetime.now(SH):%Y-%m}"])
    assert result.exit_code == 1 and "not over yet" in result.output


def test_jobs_default_to_the_month_begun_and_the_month_ended(billing_site, make_account):
    site = billing_site(fee_fixed_fen=1_000)
    make_account(site=site, balance_fen=5_000)
    assert allocation_period(datetime(2025, 2, 28, 16, 30, tzinfo=UTC)) == "2025-02"
    assert monthly_fees_job("2025-03")[site.code]["charged"] == 1
    assert allocation_job("2025-02") == {}


PERIODIC = periodic_jobs(ZoneInfo("Asia/Shanghai"))  # the default business time zone


def periodic(name: str):
    [found] = [p for p in PERIODIC if p.func.job_name == name]
    return found


def test_fee_job_is_in_the_cron_at_0005_on_the_first_business_time():
    p = periodic("worker.jobs.monthly.monthly_fees_job")
    assert (p.cron, p.func.queue) == ("5 16 L * *", "reports")
    fires = croniter(p.cron, datetime(2025, 2, 10, tzinfo=UTC))
    assert [f"{fires.get_next(datetime).astimezone(SH):%Y-%m-%d %H:%M}" for _ in range(3)] == \
        ["2025-03-01 00:05", "2025-04-01 00:05", "2025-05-01 00:05"]


def test_allocation_job_is_in_the_cron_at_0030_on_the_first_business_time():
    p = periodic("worker.jobs.monthly.allocation_job")
    assert p.cron == "30 16 L * *"
    fire = croniter(p.cron, datetime(2024, 12, 1, tzinfo=UTC)).get_next(datetime)
    assert f"{fire.astimezone(SH):%Y-%m-%d %H:%M}" == "2025-01-01 00:30"
    assert allocation_period(fire) == "2024-12"


def test_monthly_cron_for_zones_west_of_utc_and_utc_itself():
    assert monthly_cron(0, 5, ZoneInfo("UTC")) == "5 0 1 * *"
    assert monthly_cron(0, 5, ZoneInfo("America/Bogota")) == "5 5 1 * *"
