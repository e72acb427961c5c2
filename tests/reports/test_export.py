"""Exports: CSV in UTF-8 with BOM and XLSX that opens in openpyxl; formula cells neutralised."""

from __future__ import annotations

import csv
import io

from django.test import Client
from openpyxl import load_workbook

from crm.reports.export import report_file
from crm.reports.selectors import filters_from, lead_sources, product_sales


def test_csv_has_bom_and_neutralised_formula_cell(world, history) -> None:
    data = report_file(product_sales(actor=world.admin, filters=filters_from({})), "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:2] == ["产品", "类别"] or rows[0][:2] == ["Product", "Category"]
    assert rows[1][:4] == ["'=cmd", "软件", "1.00", "100.00"]
    assert rows[2][:4] == ["Widget", "硬件", "5.00", "50.00"]
    assert rows[-1][0] in ("Total", "合计") and rows[-1][3] == "150.00"


def test_xlsx_opens_with_the_same_neutralised_cell(world, history) -> None:
    data = report_file(lead_sources(actor=world.admin, filters=filters_from({})), "xlsx")
    sheet = load_workbook(io.BytesIO(data)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    labels = [row[0] for row in values[1:]]
    assert labels[:3] == ["官网", "展会", "'=cmd"]
    assert values[1][1] == 1 and values[1][7] == 2000  # leads, won amount as numbers
    cell = sheet.cell(row=4, column=1)
    assert cell.data_type == "s" and cell.value == "'=cmd"


def test_export_buttons_of_the_page_download_both_formats(world, history, client: Client) -> None:
    client.force_login(world.admin.user)
    response = client.get("/reports/product-sales/export.csv", {"category": "软件"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = response.content.decode("utf-8-sig")
    assert "'=cmd" in body and "Widget" not in body
    response = client.get("/reports/lead-sources/export.xlsx")
    assert response.status_code == 200
    assert load_workbook(io.BytesIO(response.content)).active["A4"].value == "'=cmd"
