"""A report as a CSV (UTF-8 with BOM) or XLSX file, through the writers of crm.integrations.export.

The writers and their formula neutralising (a text cell starting with = + - @, a tab or a
carriage return gets a leading apostrophe; XLSX text cells are never formulas) are imported,
not copied: :class:`ReportTable` gives a report the shape those writers read (headers, rows,
target).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from crm.integrations.export import Export, csv_chunks, neutralise, write_xlsx
from crm.reports.selectors import Report

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMATS = tuple(CONTENT_TYPES)


class ReportTable(Export):
    """A report's table (its rows, then a totals row) in the shape the export writers read."""

    def __init__(self, report: Report) -> None:
        # No list selector behind it: Export.__init__ is not called.
        self.report = report
        self.target = report.kind[:31]  # an XLSX sheet name has at most 31 characters
        self.headers = [column.label for column in report.columns]
        self.columns = []

    def rows(self) -> Iterator[list[Any]]:
        keys = [column.key for column in self.report.columns]
        for row in self.report.rows:
            yield [_cell(row.get(key)) for key in keys]
        totals = dict(self.report.totals)
        totals[keys[0]] = _("Total")
        yield [_cell(totals.get(key, "")) for key in keys]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return Decimal(str(value))
    return neutralise(value)


def file_name(report: Report, file_format: str) -> str:
    stamp = f"{report.filters.start:%Y%m%d}-{report.filters.end:%Y%m%d}"
    return f"{report.kind}-{stamp}.{file_format}"


def report_file(report: Report, file_format: str) -> bytes:
    """The whole file in memory: reports have one row per rep, product, source or week."""
    table = ReportTable(report)
    if file_format == "csv":
        return b"".join(csv_chunks(table))
    with tempfile.TemporaryDirectory(prefix="crm-report-") as folder:
        path = Path(folder) / "report.xlsx"
        write_xlsx(table, path)
        return path.read_bytes()
