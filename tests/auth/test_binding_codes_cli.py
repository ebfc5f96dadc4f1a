"""`flask accounts binding-codes`: codes written out once (only their hashes kept), sticker tokens made once and
unique, a shop's code kept unless reissued, and nothing written over an existing file."""
from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from sqlalchemy.exc import IntegrityError

from portal.auth.binding import binding_code_matches
from portal.extensions import db
from portal.models import Account, AccountStatus, AuditEntry

CODE = re.compile(r"^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")


@pytest.fixture
def mall(make_site, make_account):
    """A site with two open shops and a closed one, and a shop on another site."""
    site = make_site(code="MALL")
    shops = [make_account(site=site, code=c, name=f"Shop {c}", tenant_name="李") for c in ("S002", "S001")]
    make_account(site=site, code="S003", status=AccountStatus.CLOSED)
    make_account(code="S001")
    return shops


def fresh(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


def read_xlsx(path) -> list[tuple]:
    sheet = openpyxl.load_workbook(path)["binding_codes"]
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def test_codes_are_issued_to_every_open_shop_of_the_site_and_written_out_once(runner, mall, tmp_path):
    out = tmp_path / "codes.xlsx"
    result = runner.invoke(args=["accounts", "binding-codes", "--site", "MALL", "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_xlsx(out)
    assert rows[0] == ("account", "name", "tenant", "binding_code", "sticker_url")
    assert [r[0] for r in rows[1:]] == ["S001", "S002"]  # by code; not the closed shop, not the other site
    by_code = {shop.code: fresh(shop) for shop in mall}
    for code, name, tenant, binding_code, url in rows[1:]:
        shop = by_code[code]
        assert (name, tenant) == (f"Shop {code}", "李") and CODE.match(binding_code)
        assert binding_code_matches(shop.binding_code_hash, binding_code)  # the hash of the code written out
        assert binding_code.replace("-", "") not in shop.binding_code_hash  # and never the code itself
        assert url.endswith(f"/r/{shop.sticker_token}")
    assert "2 binding code(s) issued" in result.output
    assert db.session.query(AuditEntry).filter_by(action="account.binding_code_issued").count() == 2


def test_sticker_tokens_are_url_safe_and_unique(runner, mall, make_account):
    runner.invoke(args=["accounts", "binding-codes", "--site", "MALL"])
    tokens = [fresh(shop).sticker_token for shop in mall]
    assert len(set(tokens)) == 2 and all(re.fullmatch(r"[A-Za-z0-9_-]{22}", t) for t in tokens)
    other = make_account(code="S900")
    other.sticker_token = tokens[0]
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_without_an_output_file_the_codes_go_to_standard_output(runner, mall):
    result = runner.invoke(args=["accounts", "binding-codes", "--site", "MALL", "--account", "S002"])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("S002\t"))
    code = line.split("\t")[3]
    assert binding_code_matches(fresh(mall[0]).binding_code_hash, code)
    assert fresh(mall[1]).binding_code_hash is None  # only the shop asked for


def test_a_second_run_keeps_the_codes_unless_told_to_reissue(runner, mall):
    first = runner.invoke(args=["accounts", "binding-codes", "--site", "MALL"]).output
    codes = dict(line.split("\t")[0:4:3] for line in first.splitlines() if "\t" in line)
    hashes = {s.code: fresh(s).binding_code_hash for s in mall}
    tokens = {s.code: fresh(s).sticker_token for s in mall}
    again = runner.invoke(args=["accounts", "binding-codes", "--site", "MALL"])
    assert "0 binding code(s) issued" in again.output and "2 shop(s) kept" in again.output
    assert {s.code: fresh(s).binding_code_hash for s in mall} == hashes
    reissued = runner.invoke(args=["accounts", "binding-codes", "--site", "MALL", "--reissue"])
    assert "2 binding code(s) issued" in reissued.output
    for shop in mall:
        shop = fresh(shop)
        assert not binding_code_matches(shop.binding_code_hash, codes[shop.code])  # the printed code is void
        assert shop.sticker_token == tokens[shop.code]  # the sticker's QR code is not


def test_csv_output_has_a_header_and_survives_excel(runner, mall, tmp_path):
    out = tmp_path / "codes.csv"
    assert runner.invoke(args=["accounts", "binding-codes", "--site", "MALL", "--output", str(out)]).exit_code == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, for the Chinese names in Excel
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["account", "name", "tenant", "binding_code", "sticker_url"] and len(rows) == 3
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["codes.csv"]  # no temporary file left behind


def test_an_existing_file_is_never_written_over(runner, mall, tmp_path):
    out = tmp_path / "codes.xlsx"
    out.write_bytes(b"earlier codes")
    result = runner.invoke(args=["accounts", "binding-codes", "--site", "MALL", "--output", str(out)])
    assert result.exit_code != 0 and "exists" in result.output
    assert out.read_bytes() == b"earlier codes"
    assert all(fresh(s).binding_code_hash is None for s in mall)


@pytest.mark.parametrize("args, says", [
    (["--site", "NOPE"], "no site 'NOPE'"),
    (["--site", "MALL", "--account", "S003"], "no open shop 'S003'"),
    (["--site", "MALL", "--output", "codes.txt"], ".xlsx or .csv"),
    (["--site", "MALL", "--output", "/no/such/folder/codes.csv"], "no folder"),
])
def test_bad_arguments_change_nothing(runner, mall, args, says):
    result = runner.invoke(args=["accounts", "binding-codes", *args])
    assert result.exit_code != 0 and says in result.output
    assert all(fresh(s).binding_code_hash is None for s in mall)


def test_a_failed_commit_leaves_no_file_of_codes_nobody_can_use(runner, mall, tmp_path, monkeypatch):
    out = tmp_path / "codes.csv"

    def broken_commit():
        raise RuntimeError("the database went away")

    monkeypatch.setattr(db.session, "commit", broken_commit)
    result = runner.invoke(args=["accounts", "binding-codes", "--site", "MALL", "--output", str(out)])
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []
