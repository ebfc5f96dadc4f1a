"""The site-import figures: 100,000 valid rows imported (time, peak memory) and hostile files refused.

    python -m bench.imports [--import-shops 50000]

A workbook of N shops is generated (sheets gateways, tariffs, accounts with an opening balance, meters:
2N + N/200 + 1 rows) and imported into the throwaway PostgreSQL database as `flask import-site` does
(import_site + commit), then imported again (nothing changes). Three hostile files follow, each of about
5 MB or more: a file over the size limit, a zip bomb (a sheet part of 5 GB of blanks deflated to 5 MB) and
a shared-string bomb (5 MB holding millions of tiny distinct texts, the kind that took 504 MB before).
Each import runs in a fresh process (spawn), so its peak RSS is its own: the figure is the process's
high-water mark (VmHWM, Linux) minus what it held just before the import (the app, SQLAlchemy, the
drivers). getrusage's ru_maxrss would not do: Linux carries it over from the parent through exec.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import openpyxl

from bench import farm as farm_mod
from bench.figures import Figure

IMPORT_BAR_S = 30.0
REFUSE_BAR_S = 3.0
REFUSE_BAR_MB = 64.0
PER_GATEWAY = 200
MB = 1024 * 1024


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The import benchmark's options (shared with python -m bench)."""
    g = ap.add_argument_group("site import")
    g.add_argument("--import-only", action="store_true", help="only the site-import figures")
    g.add_argument("--no-import", action="store_true", help="skip the site-import figures")
    g.add_argument("--import-shops", type=int, default=50_000,
                   help="shops of the generated workbook: an account and a meter each (50,000: 100,251 rows)")


def build_workbook(path: Path, shops: int) -> int:
    """A valid site of `shops` shops as an import file; returns its number of data rows."""
    wb = openpyxl.Workbook(write_only=True)
    gateways = (shops + PER_GATEWAY - 1) // PER_GATEWAY
    ws = wb.create_sheet("gateways")
    ws.append(["code", "name", "host", "port", "protocol"])
    for g in range(gateways):
        ws.append([f"GW{g + 1:04d}", f"{g + 1}号总线 bus {g + 1}", f"10.{g // 250}.{g % 250}.1", 502, "modbus-tcp"])
    ws = wb.create_sheet("tariffs")
    ws.append(["code", "name", "unit_price"])
    ws.append(["FLAT", "商业电价 commercial flat", 0.95])
    ws = wb.create_sheet("accounts")
    ws.append(["code", "name", "tenant", "phone", "area_m2", "opening_balance"])
    for i in range(1, shops + 1):
        ws.append([f"S{i:06d}", f"{i // 100}F-{i % 100:02d} 商铺 shop {i}", f"商户 tenant {i}", f"139{i:08d}",
                   20 + i % 200 + 0.5, f"{100 + i % 900}.{i % 100:02d}"])
    ws = wb.create_sheet("meters")
    ws.append(["code", "name", "kind", "profile", "gateway", "unit_id", "account", "control_mode", "tariff",
               "power_limit_kw"])
    for i in range(shops):
        ws.append([f"E{i + 1:06d}", f"S{i + 1:06d} 电表 meter", "electric", "payfirst-prepaid-v1",
                   f"GW{i // PER_GATEWAY + 1:04d}", i % PER_GATEWAY + 1, f"S{i + 1:06d}",
                   "meter" if i % 10 == 0 else "platform", "FLAT", 10])
    wb.save(path)
    return gateways + 1 + 2 * shops


def oversized(path: Path, size: int = 25 * MB) -> Path:
    """A zip of incompressible bytes, bigger than the size limit."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("xl/worksheets/sheet1.xml", os.urandom(size))
    return path


def zip_bomb(path: Path, valid: Path, size: int = 5 * 1024 * MB) -> Path:
    """The valid workbook with its first sheet padded by `size` bytes of blanks (deflates about 1000:1)."""
    with zipfile.ZipFile(valid) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(item, src.read(item.filename))
        head = src.read("xl/worksheets/sheet1.xml").replace(b"</worksheet>", b"")
        with dst.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write(head)
            blanks = b" " * MB
            for _ in range(size // MB):
                out.write(blanks)
            out.write(b"</worksheet>")
    return path


def shared_string_bomb(path: Path, valid: Path, target: int = 5 * MB) -> Path:
    """The valid workbook plus a shared-string table of tiny distinct texts, about `target` bytes deflated."""
    with zipfile.ZipFile(valid) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        with dst.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8"?>'
                      b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            n = 0
            while dst.fp.tell() < target:
                out.write(b"".join(b"<si><t>%x</t></si>" % i for i in range(n, n + 100_000)))
                n += 100_000
            out.write(b"</sst>")
    return path


def _memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) of this process, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _child(database_url: str, path: str, site: str, times: int, results) -> None:
    """In a fresh process: the app, then import_site + commit `times` times; (seconds, cpu, MB before, peak MB,
    counts or the refusal) per import."""
    from portal.extensions import db
    from portal.sites.importer import ImportFailed, import_site

    app = farm_mod.make_app(database_url)
    out = []
    with app.app_context():
        for _ in range(times):
            before = _memory_mb("VmRSS")
            c0, t0 = time.process_time(), time.perf_counter()
            try:
                report = import_site(db.session, path, site)
                db.session.commit()
                outcome = report.counts
            except ImportFailed as failed:
                db.session.rollback()
                outcome = "; ".join(str(e) for e in failed.errors)
            out.append((time.perf_counter() - t0, time.process_time() - c0, before,
                        _memory_mb("VmHWM"), outcome))
        db.session.remove()
        db.engine.dispose()
    results.put(out)


def _in_child(database_url: str, path: Path, site: str, times: int = 1) -> list[tuple]:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_child, args=(database_url, str(path), site, times, results))
    proc.start()
    out = results.get(timeout=900)
    proc.join()
    return out


def run(args, database) -> list[Figure]:
    """Generate the files, import them in child processes, return the figures."""
    figures: list[Figure] = []
    farm_mod.make_app(database.url)  # the schema, once, before the children use it
    with tempfile.TemporaryDirectory(prefix="payfirst-import-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        valid = folder / "site.xlsx"
        rows = build_workbook(valid, args.import_shops)
        print(f"import file: {rows:,} rows ({args.import_shops:,} accounts with an opening balance, "
              f"{args.import_shops:,} meters), {valid.stat().st_size / MB:.1f} MB, made in "
              f"{time.perf_counter() - t:.1f} s")
        first, again = _in_child(database.url, valid, "IMPORT", times=2)
        for label, (wall, cpu, before, peak, counts) in (("import", first), ("same file again", again)):
            print(f"  {label}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {peak:.0f} MB "
                  f"({before:.0f} MB before); {counts}")
        created = first[4].get("meters", {}).get("created", 0) if isinstance(first[4], dict) else 0
        figures += [
            Figure("import: meters of the file not created", args.import_shops - created, "", 0, fmt=".0f"),
            Figure(f"import {rows:,} valid rows (import-site)", first[0], "s", IMPORT_BAR_S,
                   note=f"{first[1]:.1f} s CPU in the importing process; the rest is PostgreSQL"),
            Figure("import: memory growth (peak RSS - before)", first[3] - first[2], "MB", fmt=".0f",
                   note=f"peak {first[3]:.0f} MB"),
            Figure("import the same file again (no change)", again[0], "s", IMPORT_BAR_S),
        ]
        small = folder / "small.xlsx"  # the bombs are a small valid site with one part blown up
        build_workbook(small, 100)
        hostile = [
            ("oversized file (25 MB)", oversized(folder / "big.xlsx")),
            ("zip bomb (5 GB sheet)", zip_bomb(folder / "bomb.xlsx", small)),
            ("shared-string bomb", shared_string_bomb(folder / "sst.xlsx", small)),
        ]
        for label, path in hostile:
            [(wall, _cpu, before, peak, outcome)] = _in_child(database.url, path, "HOSTILE")
            refused = isinstance(outcome, str)
            print(f"  {label}, {path.stat().st_size / MB:.1f} MB: {'refused' if refused else 'IMPORTED'} in "
                  f"{wall:.2f} s, peak RSS {peak:.0f} MB ({before:.0f} MB before): {outcome}")
            figures += [
                Figure(f"refuse {label}", wall if refused else float("inf"), "s", REFUSE_BAR_S,
                       note=f"{path.stat().st_size / MB:.1f} MB file" if refused else "NOT REFUSED"),
                Figure(f"refuse {label}: memory growth", peak - before, "MB", REFUSE_BAR_MB, fmt=".0f"),
            ]
    return figures


def main(argv: list[str] | None = None) -> int:
    """Only these figures, in a throwaway database."""
    return farm_mod.run_alone("python -m bench.imports", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
