"""Streaming readers for uploaded CSV and XLSX files.

Nothing here loads a whole file: CSV is decoded and parsed line by line, XLSX is read with
openpyxl's read-only mode (the sheet XML is streamed from the zip). The text encoding of a CSV
is found from a sample (BOM, strict UTF-8, then charset-normalizer for GBK/GB18030, Big5 and
the Western code pages) and checked over the whole file by `count_rows` before anything is
written, so a file in the wrong encoding fails with a message naming the row instead of
importing garbage.
"""

from __future__ import annotations

import codecs
import csv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from crm.integrations.values import Cell, as_text

SAMPLE_BYTES = 256 * 1024
# A CSV cell longer than this is surely a broken quote, not data; Excel's cell limit is far lower.
CSV_FIELD_LIMIT = 4 * 1024 * 1024
MAX_COLUMNS = 500
_CHINESE = {"gb2312", "gbk", "gb18030", "hz", "cp936", "hz_gb_2312"}
_ACCEPTED = {
    "utf_8": "utf-8",
    "utf-8": "utf-8",
    "ascii": "utf-8",
    "big5": "big5hkscs",
    "big5hkscs": "big5hkscs",
    "cp950": "big5hkscs",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "iso8859_15": "cp1252",
    "shift_jis": "cp932",
    "cp932": "cp932",
    "euc_kr": "cp949",
    "cp949": "cp949",
}

csv.field_size_limit(CSV_FIELD_LIMIT)


class ImportFileError(ValueError):
    """The file as a whole cannot be read; the message says why and what to do."""


@dataclass
class SourceInfo:
    file_format: str  # "csv" | "xlsx"
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    headers: list[str] = field(default_factory=list)
    total_hint: int | None = None  # from the XLSX dimension, when the file states it


def sniff_format(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:
        raise ImportFileError(_("The file is empty."))
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            _("Old Excel files (.xls) cannot be read: save the sheet as .xlsx or CSV (UTF-8).")
        )
    return "csv"


def detect_encoding(sample: bytes) -> str:
    """utf-8-sig / utf-16 by BOM, utf-8 when the sample decodes, else charset-normalizer's best."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise ImportFileError(
            _("This does not look like a text (CSV) file: it contains binary data.")
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a character cut at the sample's end is fine
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    name = (best.encoding if best is not None else "").lower().replace("-", "_")
    if name in _CHINESE:
        return "gb18030"
    if name in _ACCEPTED:
        return _ACCEPTED[name]
    raise ImportFileError(
        _("The text encoding of this file could not be recognised: save it as CSV (UTF-8).")
    )


def _normalise_encoding(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise ImportFileError(_("Unknown text encoding “%s”.") % encoding) from exc
    return "gb18030" if name in _CHINESE else name


def _choose_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _decode_error(encoding: str, row_number: int) -> ImportFileError:
    return ImportFileError(
        _(
            "Row %(row)s is not valid %(enc)s text: the file mixes text encodings or is not "
            "the encoding chosen. Save it again as CSV (UTF-8)."
        )
        % {"row": row_number, "enc": encoding.upper()}
    )


def inspect_file(path: Path, *, encoding: str = "", sheet: str = "") -> SourceInfo:
    """Format, encoding, delimiter and the header row of an uploaded file."""
    file_format = sniff_format(path)
    if file_format == "xlsx":
        return _inspect_xlsx(path, sheet)
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    enc = _normalise_encoding(encoding) if encoding else detect_encoding(sample)
    try:
        with path.open(encoding=enc, newline="", errors="strict") as text:
            first_line = text.readline()
            delimiter = _choose_delimiter(first_line)
            text.seek(0)
            reader = csv.reader(text, delimiter=delimiter)
            headers = next(reader, None)
    except UnicodeDecodeError as exc:
        raise _decode_error(enc, 1) from exc
    except csv.Error as exc:
        raise ImportFileError(_("The header row cannot be read: %s") % exc) from exc
    info = SourceInfo("csv", encoding=enc, delimiter=delimiter)
    info.headers = _clean_headers(headers)
    return info


def _clean_headers(headers: list[Any] | tuple[Any, ...] | None) -> list[str]:
    cleaned = [as_text(h).strip().lstrip("\ufeff") for h in (headers or [])]
    while cleaned and not cleaned[-1]:
        cleaned.pop()
    if not cleaned:
        raise ImportFileError(_("The first row must name the columns, and it is empty."))
    if len(cleaned) > MAX_COLUMNS:
        raise ImportFileError(_("The file has more than %s columns.") % MAX_COLUMNS)
    if any(len(h) > 200 for h in cleaned):
        raise ImportFileError(_("A column name is longer than 200 characters."))
    return cleaned


def _open_workbook(path: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise ImportFileError(_("This is not a readable XLSX workbook.")) from exc
    except Exception as exc:  # openpyxl raises its own types for broken parts of a workbook
        raise ImportFileError(_("This is not a readable XLSX workbook.")) from exc


def _sheet(workbook: Any, sheet: str) -> Any:
    if sheet:
        if sheet not in workbook.sheetnames:
            raise ImportFileError(_("The workbook has no sheet named “%s”.") % sheet)
        return workbook[sheet]
    return workbook.worksheets[0]


def _inspect_xlsx(path: Path, sheet: str) -> SourceInfo:
    workbook = _open_workbook(path)
    try:
        ws = _sheet(workbook, sheet)
        rows = ws.iter_rows(values_only=True)
        headers = next(rows, None)
        total_hint = None
        if ws.max_row:
            total_hint = max(0, int(ws.max_row) - 1)
        info = SourceInfo("xlsx", sheet=ws.title, total_hint=total_hint)
        info.headers = _clean_headers(headers)
        return info
    finally:
        workbook.close()


def iter_rows(path: Path, info: SourceInfo, *, start: int = 0) -> Iterator[tuple[int, list[Cell]]]:
    """(spreadsheet row number, cells) for every data row after the first `start` ones.

    Row numbers count the header as row 1, as a spreadsheet shows them.
    """
    if info.file_format == "xlsx":
        yield from _iter_xlsx(path, info, start)
    else:
        yield from _iter_csv(path, info, start)


def _decoded_lines(handle: Any, encoding: str) -> Iterator[str]:
    """Lines decoded one by one, so a bad byte is reported on its own row.

    Every accepted encoding but UTF-16 is ASCII-compatible: a newline byte never occurs inside
    a multi-byte character, so splitting the bytes on newlines first is safe.
    """
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    first = True
    for raw in handle:
        if first and encoding == "utf-8-sig" and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        first = False
        yield raw.decode(codec, "strict")


def _iter_csv(path: Path, info: SourceInfo, start: int) -> Iterator[tuple[int, list[Cell]]]:
    row_number = 1
    try:
        if info.encoding.startswith("utf-16"):
            handle: Any = path.open(encoding=info.encoding, newline="", errors="strict")
            lines: Any = handle
        else:
            handle = path.open("rb")
            lines = _decoded_lines(handle, info.encoding)
        with handle:
            reader = csv.reader(lines, delimiter=info.delimiter or ",")
            next(reader, None)
            for cells in reader:
                row_number += 1
                if row_number - 2 < start:
                    continue
                yield row_number, list(cells)
    except UnicodeDecodeError as exc:
        raise _decode_error(info.encoding, row_number + 1) from exc
    except csv.Error as exc:
        raise ImportFileError(
            _("Row %(row)s cannot be read (%(why)s); check for an unclosed quote.")
            % {"row": row_number + 1, "why": exc}
        ) from exc


def _iter_xlsx(path: Path, info: SourceInfo, start: int) -> Iterator[tuple[int, list[Cell]]]:
    workbook = _open_workbook(path)
    try:
        ws = _sheet(workbook, info.sheet)
        for row_number, cells in enumerate(
            ws.iter_rows(min_row=2 + start, values_only=True), start=2 + start
        ):
            yield row_number, list(cells)
    finally:
        workbook.close()


def count_rows(path: Path, info: SourceInfo) -> int:
    """Data rows in the file; for CSV this also checks the encoding of every line."""
    if info.file_format == "xlsx" and info.total_hint is not None:
        return info.total_hint
    count = 0
    for _row in iter_rows(path, info):
        count += 1
    return count


def is_blank(cells: list[Cell]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)
