"""What an import file may weigh: checked on the zip's directory before any of it is parsed.

An .xlsx is a zip of XML parts. A few megabytes can uncompress to gigabytes (a zip bomb), and a reader
(calamine, as openpyxl even in read-only mode) keeps every distinct text of the workbook (sharedStrings.xml)
in memory, so a file is judged by what it would become, not by its size on disk: the file's size, the
number of parts, their total uncompressed size, how much each large part expands and how many shared
strings it holds.
The sizes come from the zip's central directory, and the reader trusts them: so every part is then
inflated once here, a megabyte at a time and with nothing kept, and the file is refused as forged the
moment a part holds more than its directory declares. The shared strings are counted on those bytes,
without parsing them (an XML comment holding `<si>` would count too: it only errs towards refusing).
Rows are counted while the sheets stream (`portal.sites.reader`). A legacy .xls is no zip: its size and
its rows are what limit it (an .xls sheet holds at most 65,536 rows).
"""
from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
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
    check_size(path, Path(path).stat().st_size, limits)
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            _check_parts(path, archive, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError, zlib.error,
            struct.error) as exc:
        raise refuse(path, f"not a readable .xlsx file ({exc})") from exc


def check_size(path: str | Path, length: int, limits: ImportSettings) -> None:
    """Raise ImportFailed when a file of `length` bytes is over IMPORT_MAX_FILE_MB (an upload is judged before it
    is read into memory)."""
    if length > limits.max_file_bytes:
        raise refuse(path, f"the file is {size(length)}; at most {size(limits.max_file_bytes)} can be imported "
                     "(IMPORT_MAX_FILE_MB): split it by building or floor")


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
        chunks = _inflate(path, p)
        if p.filename.lower().endswith("sharedstrings.xml"):
            chunks = _count_shared_strings(path, chunks, limits.max_shared_strings)
        inflated = 0
        for chunk in chunks:
            inflated += len(chunk)
            if inflated > p.file_size:
                raise refuse(path, f"{p.filename} holds more than the {size(p.file_size)} its zip directory declares: "
                             "a forged file")


def _inflate(path, part: zipfile.ZipInfo) -> Iterator[bytes]:
    """The part's bytes as its compressed data really inflates, at most 1 MB a chunk, whatever its directory says
    (zipfile would stop at the declared size; another reader might not)."""
    if part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise NotImplementedError(f"{part.filename} is compressed with method {part.compress_type}")
    with open(path, "rb") as f:
        f.seek(part.header_offset)
        header = f.read(30)
        if header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header for {part.filename}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        f.seek(name_length + extra_length, 1)
        inflater = zlib.decompressobj(-15) if part.compress_type == zipfile.ZIP_DEFLATED else None
        left = part.compress_size
        while left > 0 and (data := f.read(min(left, MB))):
            left -= len(data)
            if inflater is None:
                yield data
                continue
            while data and not inflater.eof:
                yield inflater.decompress(data, MB)
                data = inflater.unconsumed_tail


def _count_shared_strings(path, chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """Count the shared-string table's entries as it inflates (passing its bytes on) and stop at the limit:
    calamine, as openpyxl, would hold every one of them in memory."""
    count, carry = 0, b""
    for chunk in chunks:
        yield chunk
        text = carry + chunk
        cut = text.rfind(b"<")  # a tag cut in two by the chunk is counted with the next one
        cut = len(text) if cut < 0 else cut
        count += len(SHARED_STRING.findall(text, 0, cut))
        carry = text[cut:]
        if count > limit:
            break
    if count + len(SHARED_STRING.findall(carry)) > limit:
        raise refuse(path, f"the file holds more than {limit:,} distinct texts (IMPORT_MAX_SHARED_STRINGS); a site's "
                     "import needs a few per row")
