"""The import refuses, before it parses anything and with a clear message, a file that is too big, holds too
many rows, or would uncompress into far more than it weighs (zip and shared-string bombs). Nothing is written.

The limits are the app's settings (IMPORT_MAX_*); these tests set small ones instead of building huge files.
"""
from __future__ import annotations

import dataclasses
import re
import struct
import zipfile
from pathlib import Path

import pytest

from portal.extensions import db
from portal.settings import ImportSettings, Settings, SettingsError
from portal.sites.importer import ImportFailed, import_site
from tests.sites.test_importer import row_counts, site_sheets, xlsx

BASE = {"DATABASE_URL": "postgresql://u@db/payfirst", "SECRET_KEY": "s"}
MB = 1024 * 1024


@pytest.fixture
def limits(app):
    """limits(**fields): the app's import limits from now on (restored afterwards)."""
    settings = app.config["SETTINGS"]

    def set_limits(**fields) -> ImportSettings:
        app.config["SETTINGS"] = dataclasses.replace(settings, imports=ImportSettings(**fields))
        return app.config["SETTINGS"].imports

    yield set_limits
    app.config["SETTINGS"] = settings


def rewrite(path: Path, parts: dict[str, bytes]) -> Path:
    """The same workbook with some parts replaced or added (deflated, as Excel stores them)."""
    out = path.with_name("bloated-" + path.name)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename not in parts:
                dst.writestr(item, src.read(item.filename))
        for name, data in parts.items():
            dst.writestr(name, data)
    return out


def padded_sheet(path: Path, extra: int) -> bytes:
    """The workbook's first sheet with `extra` bytes of blanks before its end: valid XML that deflates ~1000:1."""
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml")
    return xml.replace(b"</worksheet>", b" " * extra + b"</worksheet>")


def refused(path: Path) -> str:
    with pytest.raises(ImportFailed) as failed:
        import_site(db.session, path, "mall")
    [error] = failed.value.errors
    assert (error.sheet, error.row, error.column) == (path.name, None, None)
    assert set(row_counts().values()) == {0}  # nothing written, not even the site
    return error.message


def test_a_file_over_the_size_limit_is_refused(xlsx, limits):
    path = xlsx()
    limits(max_file_bytes=1024)
    message = refused(path)
    assert re.match(r"the file is \d KB; at most 1 KB can be imported \(IMPORT_MAX_FILE_MB\)", message)


def test_a_file_over_the_row_limit_is_refused_at_the_first_row_too_many(xlsx, limits):
    sheets = site_sheets()  # 2 gateways, 2 tariffs, 2 accounts, 3 meters: 9 rows and 4 header rows
    limits(max_rows=12)
    message = refused(xlsx(sheets))
    assert "more than 12 rows" in message and "IMPORT_MAX_ROWS" in message


def test_a_file_at_the_row_limit_is_imported(xlsx, limits):
    limits(max_rows=13)
    report = import_site(db.session, xlsx(), "mall")
    assert report.counts["meters"]["created"] == 3


def test_a_zip_bomb_is_refused_by_its_uncompressed_size(xlsx, limits):
    path = xlsx()
    bomb = rewrite(path, {"xl/worksheets/sheet1.xml": padded_sheet(path, 8 * MB)})
    assert bomb.stat().st_size < 100_000  # 8 MB of sheet in a few kilobytes
    limits(max_xml_bytes=4 * MB)
    message = refused(bomb)
    assert "uncompressed, the file would be 8.0 MB; at most 4.0 MB" in message and "IMPORT_MAX_XML_MB" in message


def test_a_part_that_expands_too_much_is_refused_as_a_zip_bomb(xlsx, limits):
    path = xlsx()
    bomb = rewrite(path, {"xl/worksheets/sheet1.xml": padded_sheet(path, 4 * MB)})
    limits()  # the defaults: 4 MB is well under the size limit, but it came out of a few kilobytes
    message = refused(bomb)
    assert "xl/worksheets/sheet1.xml expands" in message and "zip bomb" in message


def shared_strings(n: int) -> bytes:
    """A shared-string table of n distinct texts, a few with a namespace prefix (about 2 MB for 100,000)."""
    strings = b"".join((b"<x:si><x:t>%d</x:t></x:si>" if i % 1000 == 0 else b"<si><t>%d</t></si>") % i
                       for i in range(n))
    return (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            b'2006/main" xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + strings + b"</sst>")


def forge_declared_size(path: Path, part: str, declared: int) -> Path:
    """The zip with `part`'s uncompressed size rewritten in its local header and its central directory entry."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        local = z.getinfo(part).header_offset
    struct.pack_into("<I", data, local + 22, declared)
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + length] == part.encode():
            struct.pack_into("<I", data, at + 24, declared)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    return path


def test_a_part_that_holds_more_than_its_zip_directory_declares_is_refused(xlsx, limits):
    path = xlsx()
    bomb = forge_declared_size(rewrite(path, {"xl/worksheets/sheet1.xml": padded_sheet(path, 8 * MB)}),
                               "xl/worksheets/sheet1.xml", 100_000)
    with zipfile.ZipFile(bomb) as z:
        assert z.getinfo("xl/worksheets/sheet1.xml").file_size == 100_000  # what a reader is told
    limits(max_xml_bytes=4 * MB)
    message = refused(bomb)
    assert "xl/worksheets/sheet1.xml holds more than the 98 KB its zip directory declares" in message


def test_a_shared_string_bomb_is_refused(xlsx, limits):
    bomb = rewrite(xlsx(), {"xl/sharedStrings.xml": shared_strings(100_001)})  # more than one 1 MB chunk
    limits(max_shared_strings=100_000)
    message = refused(bomb)
    assert "more than 100,000 distinct texts" in message and "IMPORT_MAX_SHARED_STRINGS" in message


def test_shared_strings_up_to_the_limit_are_counted_exactly_and_pass(xlsx, limits):
    path = rewrite(xlsx(), {"xl/sharedStrings.xml": shared_strings(100_001)})
    limits(max_shared_strings=100_001)
    assert import_site(db.session, path, "mall").counts["meters"]["created"] == 3


def test_the_cli_says_why_a_file_was_refused(runner, xlsx, limits):
    limits(max_rows=3)
    result = runner.invoke(args=["import-site", str(xlsx()), "--site", "mall"])
    assert result.exit_code != 0
    assert "more than 3 rows" in result.stderr and "nothing imported: 1 error(s)" in result.stderr
    assert set(row_counts().values()) == {0}


@pytest.mark.no_db
def test_the_limits_are_settings():
    s = Settings.from_env({**BASE, "IMPORT_MAX_FILE_MB": "5", "IMPORT_MAX_ROWS": "1000", "IMPORT_MAX_XML_MB": "64",
                           "IMPORT_MAX_RATIO": "50", "IMPORT_MAX_SHARED_STRINGS": "9999"})
    assert s.imports == ImportSettings(5 * MB, 1000, 64 * MB, 50, 9999)
    assert Settings.from_env(BASE).imports == ImportSettings(20 * MB, 200_000, 256 * MB, 100, 1_000_000)


@pytest.mark.no_db
@pytest.mark.parametrize("name, value", [("IMPORT_MAX_ROWS", "0"), ("IMPORT_MAX_FILE_MB", "big")])
def test_a_malformed_limit_is_a_startup_error(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**BASE, name: value})
