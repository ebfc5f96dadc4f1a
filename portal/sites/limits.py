"""What an import file may weigh: checked on the zip's directory before any of it is parsed.

An .xlsx is a zip of XML parts. A few megabytes can uncompress to gigabytes (a zip bomb), and a reader
(calamine, as openpyxl even in read-only mode) keeps every distinct text of the workbook (sharedStrings.xml)
in memory, so a file is judged by what it would become, not by its size on disk: the file's size, the
number of parts, their total uncompressed size, how much each large part expands and how many shared
strings it holds.
The sizes come from the zip's central directory; Python's zipfile never inflates a part beyond the size
declared there (and fails its CRC if the data disagrees), so a lying directory cannot get past this.
The shared strings are counted on the uncompressed bytes as they stream, a megabyte at a time, without
parsing them (an XML comment that holds `<si>` would count too: harmless, it only errs towards refusing).
Rows are counted while the sheets stream (`portal.sites.reader`). A legacy .xls is no zip: its size and
its rows are what limit it (an .xls sheet holds at most 65,536 rows).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from portal.settings import ImportSettings
from portal.sites.sheets import CellError, ImportFailed

#: a workbook of four sheets has about fifteen parts; Excel's extras (themes, printer settings) a few dozen
MAX_PARTS = 1_000
#: parts smaller than this may expand as they like (a tiny XML part of repeated tags compresses 100:1)
RATIO_FLOOR_BYTES = 1024 * 1024
MB = 1024 * 1024
#: the start of one shared string, <si> or <x:si ...> (any namespace prefix)
SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")


def size(n: int) -> str:
    """Bytes as a person reads them in a message."""
    return f"{n / MB:.1f} MB" if n >= MB // 10 else f"{n / 1024:.0f} KB"


def refuse(path: str | Path, message: str) -> ImportFailed:
    """The one error of a file refused as a whole."""
    return ImportFailed([CellError(Path(path).name, None, None, message)])


def check_file(path: str | Path, limits: ImportSettings) -> None:
    """Raise ImportFailed, having read only the zip's directory (and counted its shared strings), when the file
    is over a limit; a file that is not a zip is left to the reader, which reports it as unreadable."""
    length = Path(path).stat().st_size
    if length > limits.max_file_bytes:
        raise refuse(path, f"the file is {size(length)}; at most {size(limits.max_file_bytes)} can be imported "
                     "(IMPORT_MAX_FILE_MB): split it by building or floor")
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            _check_parts(path, archive, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
        raise refuse(path, f"not a readable .xlsx file ({exc})") from exc


def _check_parts(path, archive: zipfile.ZipFile, limits: ImportSettings) -> None:
    parts = archive.infolist()
    if len(parts) > MAX_PARTS:
        raise refuse(path, f"the file holds {len(parts)} parts; an .xlsx workbook has a few dozen")
    total = sum(p.file_size for p in parts)
    if total > limits.max_xml_bytes:
        raise refuse(path, f"uncompressed, the file would be {size(total)}; at most {size(limits.max_xml_bytes)} "
                     "can be imported (IMPORT_MAX_XML_MB)")
    for p in parts:
        if p.file_size > RATIO_FLOOR_BYTES and p.file_size > limits.max_ratio * max(p.compress_size, 1):
            raise refuse(path, f"{p.filename} expands {p.file_size // max(p.compress_size, 1)} times when "
                         f"uncompressed; a spreadsheet expands less than {limits.max_ratio} times (a zip bomb?)")
    for p in parts:
        if p.filename.lower().endswith("sharedstrings.xml"):
            _count_shared_strings(path, archive, p, limits.max_shared_strings)


def _count_shared_strings(path, archive: zipfile.ZipFile, part: zipfile.ZipInfo, limit: int) -> None:
    """Count the shared-string table's entries as it inflates and stop at the limit (openpyxl and calamine
    would hold every one of them in memory)."""
    count, carry = 0, b""
    with archive.open(part) as stream:
        while chunk := stream.read(MB):
            text = carry + chunk
            cut = text.rfind(b"<")  # a tag cut in two by the chunk is counted with the next one
            cut = len(text) if cut < 0 else cut
            count += len(SHARED_STRING.findall(text, 0, cut))
            carry = text[cut:]
            if count > limit:
                break
    count += len(SHARED_STRING.findall(carry))
    if count > limit:
        raise refuse(path, f"the file holds more than {limit:,} distinct texts (IMPORT_MAX_SHARED_STRINGS); a site's "
                     "import needs a few per row")
