"""What crosses the walls by name rather than by import: job names and meter profiles.

The portal never imports the worker, so it names jobs (`portal.queue.names`) and meter profiles
(`portal.models.meter`) as strings; the worker defines both. These tests hold the two sides together.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import worker.jobs
from portal.models import meter as model
from portal.models.meter import MeterKind
from portal.queue import names
from portal.queue.dispatch import resolve
from portal.queue.names import ENQUEUED_BY_NAME, FORMER_NAMES, QUEUES, JobRef
from worker.jobs.base import job
from worker.meters.profiles import PROFILES as DRIVERS
from worker.schedule import periodic
from worker.simulator import registers as sim_registers
from worker.simulator import specs as sim_specs

pytestmark = pytest.mark.no_db

ROOT = Path(__file__).resolve().parent.parent

# --- jobs ----------------------------------------------------------------------------------------------------

#: the code object every function made by worker.jobs.base.job runs
_JOB_CODE = job(QUEUES[0])(lambda: None).__code__


def is_job(func) -> bool:
    """Made by worker.jobs.base.job (an app context, one transaction), not merely something callable."""
    return inspect.isfunction(func) and func.__code__ is _JOB_CODE and hasattr(func, "job_name")


def job_modules() -> list:
    return [importlib.import_module(f"worker.jobs.{m.name}")
            for m in pkgutil.iter_modules(worker.jobs.__path__) if m.name != "base"]


def all_jobs() -> dict[str, object]:
    """Every job of worker.jobs by its name."""
    return {f.job_name: f for module in job_modules() for f in vars(module).values()
            if is_job(f) and f.__module__ == module.__name__}


@pytest.mark.parametrize("ref", ENQUEUED_BY_NAME, ids=lambda ref: ref.name)
def test_every_job_domain_code_enqueues_resolves_to_a_job_on_its_queue(ref):
    func = resolve(ref.name)
    assert is_job(func), f"{ref.name} is not decorated with worker.jobs.base.job"
    assert func.job_name == ref.name
    assert func.queue == ref.queue, f"{ref.name} runs on {func.queue!r}, the portal enqueues it on {ref.queue!r}"


def test_every_job_ref_is_listed_for_the_check():
    refs = {name for name, value in vars(names).items() if isinstance(value, JobRef)}
    listed = {name for name, value in vars(names).items() if value in ENQUEUED_BY_NAME}
    assert refs == listed, f"JobRefs missing from ENQUEUED_BY_NAME: {sorted(refs - listed)}"


def enqueue_calls(source: str):
    """(line, job argument) of each outbox `enqueue(session, job, ...)` call (not RQ's `Queue.enqueue`)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("enqueue", "outbox.enqueue"):
            yield node.lineno, node.args[1] if len(node.args) > 1 else None


def imported_from_names(source: str) -> set[str]:
    return {alias.asname or alias.name for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.module == "portal.queue.names" for alias in node.names}


def test_the_portal_enqueues_only_listed_job_refs():
    listed = {name for name, value in vars(names).items() if value in ENQUEUED_BY_NAME}
    wrong, seen = [], 0
    for path in sorted((ROOT / "portal").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for line, arg in enqueue_calls(source):
            seen += 1
            if not (isinstance(arg, ast.Name) and arg.id in listed and arg.id in imported_from_names(source)):
                wrong.append(f"    {path.relative_to(ROOT)}:{line}: enqueues {ast.unparse(arg) if arg else '?'}")
    assert seen, "no outbox enqueue found: has it been renamed?"
    assert not wrong, "jobs enqueued other than by a JobRef of ENQUEUED_BY_NAME:\n" + "\n".join(wrong)


def test_every_periodic_job_is_a_job_rq_finds_by_name():
    for p in periodic(ZoneInfo("Asia/Shanghai")):
        assert is_job(p.func), f"{p.func} is periodic but not decorated with worker.jobs.base.job"
        assert resolve(p.func.job_name) is p.func
        assert p.func.queue in QUEUES
        assert (p.interval is None) != (p.cron is None), f"{p.func.job_name}: an interval or a cron line, one"


def test_every_job_runs_on_a_known_queue_and_resolves_by_its_name():
    jobs = all_jobs()
    assert jobs, "no job found in worker.jobs"
    for name, func in jobs.items():
        assert func.queue in QUEUES, f"{name} runs on an unknown queue {func.queue!r}"
        assert resolve(name) is func


def job_decorators(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, function, queue literal) of each function decorated with `job(...)`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "job":
                    first = deco.args[0] if deco.args else next(
                        (k.value for k in deco.keywords if k.arg == "queue"), None)
                    queue = first.value if isinstance(first, ast.Constant) else None
                    found.append((node.lineno, node.name, queue))
    return found


def test_every_job_is_declared_in_worker_jobs_on_a_queue_written_out():
    jobs, wrong = all_jobs(), []
    for path in sorted([*(ROOT / "portal").rglob("*.py"), *(ROOT / "worker").rglob("*.py")]):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for line, name, queue in job_decorators(path):
            where = f"{path.relative_to(ROOT)}:{line}: {name}"
            if not module.startswith("worker.jobs."):
                wrong.append(f"    {where} is a job outside worker/jobs")
            elif queue not in QUEUES:
                wrong.append(f"    {where} names no queue of QUEUES ({queue!r})")
            elif f"{module}.{name}" not in jobs:
                wrong.append(f"    {where} is not a job found at the top of its module")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("old, new", FORMER_NAMES.items())
def test_former_job_names_still_resolve_to_the_job_that_replaced_them(old, new):
    assert new in all_jobs(), f"{old} maps to {new}, which is no job"
    assert resolve(old) is resolve(new)


# --- meter profiles ------------------------------------------------------------------------------------------


def drivers_where(predicate) -> frozenset[str]:
    return frozenset(name for name, profile in DRIVERS.items() if predicate(profile))


def test_the_models_and_the_drivers_know_the_same_profiles():
    assert frozenset(DRIVERS) == model.PROFILES


def test_the_simulator_knows_the_same_profiles():
    assert frozenset(sim_specs.PROFILES) == model.PROFILES
    assert frozenset(sim_registers.PROFILES) == model.PROFILES


def test_switchable_profiles_are_those_whose_driver_writes_a_relay_or_valve():
    assert drivers_where(lambda p: "set_supply" in p.writes) == model.SWITCHABLE_PROFILES
    assert drivers_where(lambda p: p.caps.relay or p.caps.valve) == model.SWITCHABLE_PROFILES


def test_keep_power_profiles_are_those_whose_driver_writes_the_flag():
    assert drivers_where(lambda p: "set_keep_power" in p.writes) == model.KEEP_POWER_PROFILES
    assert drivers_where(lambda p: p.caps.keep_power) == model.KEEP_POWER_PROFILES


def test_prepaid_profiles_are_those_whose_driver_keeps_a_balance_and_writes_purchases():
    assert drivers_where(lambda p: "write_purchase" in p.writes) == model.PROFILES_WITH_PREPAID
    assert drivers_where(lambda p: p.caps.internal_balance) == model.PROFILES_WITH_PREPAID
    assert drivers_where(lambda p: p.caps.control_mode) == model.PROFILES_WITH_PREPAID
    assert frozenset(sim_specs.PREPAID_PROFILES) == model.PROFILES_WITH_PREPAID


def test_water_profiles_are_those_whose_driver_measures_water():
    assert drivers_where(lambda p: p.medium == "water") == model.WATER_PROFILES
    assert drivers_where(lambda p: p.caps.valve) == model.WATER_PROFILES & model.SWITCHABLE_PROFILES
    assert {p.medium for p in DRIVERS.values()} <= {kind.value for kind in MeterKind}
