"""Spreadsheet import (SPEC §4): all or nothing, every error by sheet/row/column, idempotent."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import xlwt
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Account,
    EntryKind,
    Gateway,
    LedgerEntry,
    Meter,
    Protocol,
    Site,
    Tariff,
    TariffVersion,
)
from portal.sites.importer import ImportFailed, import_site

HEADERS = {
    "gateways": ["code", "name", "host", "port", "protocol"],
    "tariffs": ["code", "name", "unit_price"],
    "accounts": ["code", "name", "tenant", "phone", "area_m2", "opening_balance"],
    "meters": [
        "code",
        "name",
        "kind",
        "profile",
        "gateway",
        "unit_id",
        "account",
        "control_mode",
        "tariff",
        "power_limit_kw",
    ],
}
ALL_MODELS = (Site, Gateway, Account, Meter, Tariff, TariffVersion, LedgerEntry)


def site_sheets() -> dict[str, list[list]]:
    """A valid site: two buses, two shops (one with an opening balance), 3 meters, 2 tariffs."""
    return {
        "gateways": [
            list(HEADERS["gateways"]),
            ["GW1", "Bus 1", "10.0.0.5", "502", "modbus-tcp"],
            ["GW2", "Bus 2", "gw2.mall.example", "4001", "rtu-over-tcp"],
        ],
        "tariffs": [
            list(HEADERS["tariffs"]),
            ["FLAT", "Commercial flat", "0.9500"],
            ["WATER", "Water", "4.5"],
        ],
        "accounts": [
            list(HEADERS["accounts"]),
            ["A101", "Shop 101", "Li Lei", "13900000001", "35", "123.45"],
            ["A102", "Shop 102", "Han Meimei", "13900000002", "", ""],
        ],
        "meters": [
            list(HEADERS["meters"]),
            ["E101", "Shop 101 electricity", "electric", "payfirst-prepaid-v1", "GW1", "1", "A101",
             "platform", "FLAT", "10"],
            ["W101", "Shop 101 water", "water", "payfirst-water-v1", "GW1", "2", "A101",
             "meter", "WATER", ""],
            ["C1", "Corridor lights", "electric", "chint-dtsu666", "GW2", "1", "",
             "platform", "", ""],
        ],
    }


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    """Write each sheet from a list of rows (the first row is the header)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


@pytest.fixture
def xlsx(tmp_path):
    """xlsx(sheets) writes a new file in tmp_path and returns its path."""
    counter = iter(range(1, 1000))

    def write(sheets: dict[str, list[list]] | None = None) -> Path:
        return write_xlsx(tmp_path / f"site{next(counter)}.xlsx", sheets or site_sheets())

    return write


def row_counts() -> dict[str, int]:
    return {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in ALL_MODELS
    }


def located(failed: ImportFailed) -> set[tuple]:
    return {(e.sheet, e.row, e.column) for e in failed.errors}


def import_and_commit(path: Path, site: str = "mall"):
    report = import_site(db.session, path, site)
    db.session.commit()
    return report


# --- a valid file ---------------------------------------------------------------------------------


def test_valid_file_creates_gateways_accounts_meters_and_tariffs(xlsx):
    report = import_and_commit(xlsx())
    assert report.counts["gateways"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert report.counts["accounts"]["created"] == 2
    assert report.counts["meters"]["created"] == 3
    assert report.counts["tariffs"]["created"] == 2
    site = db.session.scalars(select(Site).where(Site.code == "mall")).one()
    gw2 = db.session.scalars(select(Gateway).where(Gateway.code == "GW2")).one()
    assert (gw2.site_id, gw2.host, gw2.port, gw2.protocol) == (
        site.id,
        "gw2.mall.example",
        4001,
        Protocol.RTU_OVER_TCP,
    )
    e101 = db.session.scalars(select(Meter).where(Meter.code == "E101")).one()
    assert (e101.gateway.code, e101.unit_id, e101.account.code, e101.power_limit_w) == (
        "GW1",
        1,
        "A101",
        10_000,
    )
    common = db.session.scalars(select(Meter).where(Meter.code == "C1")).one()
    assert common.account_id is None and common.tariff_id is None


def test_flat_tariff_prices_are_stored_exactly_and_the_first_is_the_site_default(xlsx):
    import_and_commit(xlsx())
    prices = dict(
        db.session.execute(
            select(Tariff.code, TariffVersion.unit_price_e4).join(TariffVersion)
        ).all()
    )
    assert prices == {"FLAT": 9_500, "WATER": 45_000}
    site = db.session.scalars(select(Site)).one()
    assert db.session.get(Tariff, site.default_tariff_id).code == "FLAT"


def test_opening_balance_is_one_opening_ledger_entry(xlsx):
    import_and_commit(xlsx())
    a101 = db.session.scalars(select(Account).where(Account.code == "A101")).one()
    entries = db.session.scalars(select(LedgerEntry)).all()
    assert [(e.account_id, e.amount_fen, e.kind) for e in entries] == [
        (a101.id, 12_345, EntryKind.OPENING)
    ]
    assert a101.balance_fen == 12_345


def test_reimporting_the_same_file_changes_nothing(xlsx):
    path = xlsx()
    import_and_commit(path)
    before = row_counts()
    balances = dict(db.session.execute(select(Account.code, Account.balance_fen)).all())
    report = import_and_commit(path)
    assert not report.changed
    assert all(c["created"] == c["updated"] == 0 for c in report.counts.values())
    assert report.counts["meters"]["unchanged"] == 3
    assert row_counts() == before
    assert dict(db.session.execute(select(Account.code, Account.balance_fen)).all()) == balances


def test_a_changed_name_updates_the_row(xlsx):
    import_and_commit(xlsx())
    sheets = site_sheets()
    sheets["accounts"][1][1] = "Shop 101 (renamed)"
    report = import_and_commit(xlsx(sheets))
    assert report.counts["accounts"] == {"created": 0, "updated": 1, "unchanged": 1}
    assert (
        db.session.scalars(select(Account.name).where(Account.code == "A101")).one()
        == "Shop 101 (renamed)"
    )
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 1


def test_a_changed_tariff_price_adds_a_version_and_keeps_the_old_one(xlsx):
    import_and_commit(xlsx())
    sheets = site_sheets()
    sheets["tariffs"][1][2] = "1.0200"
    import_and_commit(xlsx(sheets))
    flat = db.session.scalars(select(Tariff).where(Tariff.code == "FLAT")).one()
    assert [v.unit_price_e4 for v in flat.versions] == [9_500, 10_200]


def test_extra_columns_are_allowed(xlsx):
    sheets = site_sheets()
    for rows in sheets.values():
        rows[0].append("remarks")
        for row in rows[1:]:
            row.append(f"note about {row[0]}")
    report = import_and_commit(xlsx(sheets))
    assert report.counts["meters"]["created"] == 3


def test_numbers_typed_as_excel_numbers_work(xlsx):
    sheets = site_sheets()
    sheets["gateways"][1][3] = 502.0
    sheets["accounts"][1] = [101, "Shop 101", "Li Lei", 13900000001, 35, 123.45]
    sheets["meters"][1][5:8] = [1.0, 101, "platform"]
    sheets["meters"][1][9] = 7.5
    sheets["meters"][2][6] = 101
    sheets["tariffs"][1][2] = 0.95
    import_and_commit(xlsx(sheets))
    shop = db.session.scalars(select(Account).where(Account.code == "101")).one()
    assert (shop.phone, shop.balance_fen) == ("13900000001", 12_345)
    meter = db.session.scalars(select(Meter).where(Meter.code == "E101")).one()
    assert (meter.unit_id, meter.account_id, meter.power_limit_w) == (1, shop.id, 7_500)
    assert db.session.scalars(select(Gateway.port).where(Gateway.code == "GW1")).one() == 502


# --- a broken file --------------------------------------------------------------------------------


def _set(sheet: str, row: int, column: str, value):
    """A change to the valid file: put `value` into one cell (row numbers as Excel shows them)."""

    def change(sheets):
        sheets[sheet][row - 1][HEADERS[sheet].index(column)] = value

    return change


def _add_row(sheet: str, values: list):
    def change(sheets):
        sheets[sheet].append(values)

    return change


def _drop_sheet(sheet: str):
    def change(sheets):
        del sheets[sheet]

    return change


def _drop_column(sheet: str, column: str):
    def change(sheets):
        i = HEADERS[sheet].index(column)
        for row in sheets[sheet]:
            del row[i]

    return change


BROKEN = {
    "port not a number": (_set("gateways", 2, "port", "five-oh-two"), ("gateways", 2, "port")),
    "port out of range": (_set("gateways", 3, "port", 70000), ("gateways", 3, "port")),
    "unknown protocol": (
        _set("gateways", 2, "protocol", "modbus-udp"),
        ("gateways", 2, "protocol"),
    ),
    "unit id 0": (_set("meters", 2, "unit_id", 0), ("meters", 2, "unit_id")),
    "unit id 248": (_set("meters", 3, "unit_id", 248), ("meters", 3, "unit_id")),
    "unknown profile": (_set("meters", 2, "profile", "acme-9000"), ("meters", 2, "profile")),
    "missing gateway": (_set("meters", 2, "gateway", "GW9"), ("meters", 2, "gateway")),
    "missing account": (_set("meters", 3, "account", "A999"), ("meters", 3, "account")),
    "missing tariff": (_set("meters", 2, "tariff", "NOPE"), ("meters", 2, "tariff")),
    "duplicate account code": (
        _add_row("accounts", ["A101", "again", "", "", "", ""]),
        ("accounts", 4, "code"),
    ),
    "duplicate meter code": (
        _add_row(
            "meters",
            ["C1", "again", "electric", "chint-dtsu666", "GW2", "2", "", "platform", "", ""],
        ),
        ("meters", 5, "code"),
    ),
    "duplicate unit id on a gateway": (_set("meters", 3, "unit_id", 1), ("meters", 3, "unit_id")),
    "water profile with kind electric": (
        _set("meters", 3, "kind", "electric"),
        ("meters", 3, "kind"),
    ),
    "meter mode on the acrel profile": (
        lambda s: (
            _set("meters", 2, "profile", "acrel-ddsy1352")(s),
            _set("meters", 2, "control_mode", "meter")(s),
        ),
        ("meters", 2, "control_mode"),
    ),
    "opening balance with 3 decimals": (
        _set("accounts", 2, "opening_balance", "1.005"),
        ("accounts", 2, "opening_balance"),
    ),
    "missing sheet": (_drop_sheet("meters"), ("meters", None, None)),
    "missing header column": (_drop_column("gateways", "host"), ("gateways", 1, "host")),
}


@pytest.mark.parametrize("change, where", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_cell_is_reported_by_sheet_row_and_column_and_nothing_is_written(
    xlsx, change, where
):
    sheets = site_sheets()
    change(sheets)
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, xlsx(sheets), "mall")
    assert where in located(failed.value)
    assert set(row_counts().values()) == {0}


def test_every_error_in_a_file_is_reported_at_once(xlsx):
    sheets = site_sheets()
    for change, _ in (
        BROKEN["port not a number"],
        BROKEN["unknown protocol"],
        BROKEN["unit id 248"],
        BROKEN["missing account"],
        BROKEN["opening balance with 3 decimals"],
    ):
        change(sheets)
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, xlsx(sheets), "mall")
    assert located(failed.value) >= {
        ("gateways", 2, "port"),
        ("gateways", 2, "protocol"),
        ("meters", 3, "unit_id"),
        ("meters", 3, "account"),
        ("accounts", 2, "opening_balance"),
    }


def test_a_file_that_is_not_xlsx_is_refused(tmp_path):
    path = tmp_path / "site.xlsx"
    path.write_text("code,name\nGW1,bus\n")
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, path, "mall")
    assert [(e.sheet, e.row) for e in failed.value.errors] == [("site.xlsx", None)]
    assert "not a readable .xlsx" in failed.value.errors[0].message
    assert set(row_counts().values()) == {0}


def test_a_broken_reimport_leaves_the_site_as_it_was(xlsx):
    import_and_commit(xlsx())
    before = row_counts()
    sheets = site_sheets()
    sheets["accounts"][2][1] = "renamed"
    sheets["meters"][2][5] = 500
    with pytest.raises(ImportFailed):
        import_site(db.session, xlsx(sheets), "mall")
    db.session.rollback()
    assert row_counts() == before
    assert (
        db.session.scalars(select(Account.name).where(Account.code == "A102")).one() == "Shop 102"
    )


def test_a_different_opening_balance_on_reimport_is_refused(xlsx):
    import_and_commit(xlsx())
    sheets = site_sheets()
    sheets["accounts"][1][5] = "200.00"
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, xlsx(sheets), "mall")
    assert located(failed.value) == {("accounts", 2, "opening_balance")}


# --- the CLI --------------------------------------------------------------------------------------


def test_cli_import_prints_counts(runner, xlsx):
    result = runner.invoke(args=["import-site", str(xlsx()), "--site", "mall"])
    assert result.exit_code == 0, result.output
    assert "gateways: 2 created, 0 updated, 0 unchanged" in result.output
    assert "meters: 3 created, 0 updated, 0 unchanged" in result.output
    assert db.session.scalars(select(Site.code)).all() == ["mall"]


def test_cli_import_without_site_uses_the_default_site(runner, xlsx):
    result = runner.invoke(args=["import-site", str(xlsx())])
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(Site.code)).all() == ["default"]


def test_cli_import_with_errors_exits_nonzero_listing_each_cell(runner, xlsx):
    sheets = site_sheets()
    BROKEN["unit id 248"][0](sheets)
    BROKEN["unknown protocol"][0](sheets)
    result = runner.invoke(args=["import-site", str(xlsx(sheets)), "--site", "mall"])
    assert result.exit_code != 0
    assert "meters row 3 column unit_id: must be between 1 and 247" in result.stderr
    assert (
        "gateways row 2 column protocol: must be one of modbus-tcp, rtu-over-tcp" in result.stderr
    )
    assert "nothing imported: 2 error(s)" in result.stderr
    assert set(row_counts().values()) == {0}


def test_an_invalid_unit_id_is_reported_once_per_row(xlsx):
    sheets = site_sheets()
    sheets["meters"][1][5] = sheets["meters"][2][5] = 0
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, xlsx(sheets), "mall")
    unit_errors = [(e.row, e.message) for e in failed.value.errors if e.column == "unit_id"]
    assert unit_errors == [(2, "must be between 1 and 247"), (3, "must be between 1 and 247")]


def test_a_unit_id_taken_by_a_meter_already_in_the_site_is_refused(xlsx):
    import_and_commit(xlsx())
    sheets = site_sheets()
    sheets["meters"][1:] = [
        [
            "E102",
            "Shop 102",
            "electric",
            "payfirst-prepaid-v1",
            "GW1",
            1,
            "A102",
            "platform",
            "",
            "",
        ]
    ]
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, xlsx(sheets), "mall")
    assert [(e.row, e.column) for e in failed.value.errors] == [(2, "unit_id")]
    assert "meter E101 already in the site" in failed.value.errors[0].message


def test_swapping_two_meters_unit_ids_is_imported(xlsx):
    import_and_commit(xlsx())
    sheets = site_sheets()
    sheets["meters"][1][5], sheets["meters"][2][5] = "2", "1"
    import_and_commit(xlsx(sheets))
    units = dict(db.session.execute(select(Meter.code, Meter.unit_id)).all())
    assert (units["E101"], units["W101"]) == (2, 1)


# --- legacy .xls (SPEC §4: property offices still keep them) ---------------------------------------


def write_xls(path: Path, sheets: dict[str, list[list]]) -> Path:
    """The same sheets as an Excel 97-2003 workbook."""
    wb = xlwt.Workbook()
    for title, rows in sheets.items():
        ws = wb.add_sheet(title)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                ws.write(r, c, value)
    wb.save(str(path))
    return path


def test_a_legacy_xls_file_is_imported_like_an_xlsx(tmp_path):
    report = import_and_commit(write_xls(tmp_path / "site.xls", site_sheets()))
    assert {sheet: c["created"] for sheet, c in report.counts.items()} == {
        "sites": 1, "tariffs": 2, "gateways": 2, "accounts": 2, "meters": 3}
    assert db.session.scalar(select(Meter.unit_id).where(Meter.code == "W101")) == 2


def test_a_broken_cell_of_an_xls_file_is_located_and_nothing_is_written(tmp_path):
    sheets = site_sheets()
    sheets["meters"][2][5] = "248"
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, write_xls(tmp_path / "site.xls", sheets), "mall")
    assert located(failed.value) == {("meters", 3, "unit_id")}
    assert set(row_counts().values()) == {0}
