"""Bad input: each case gets a clear message or per-row errors, never a crash, and a failed
import leaves no half-written batch."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from crm.core.errors import ValidationFailedError
from crm.customers.models import Contact
from crm.customers.services import contact_create
from crm.integrations import importing, services
from crm.integrations.models import ImportRowError
from crm.integrations.selectors import failed_rows_csv
from crm.sales.models import Order

from .helpers import csv_bytes, run_import, upload


def errors_of(job) -> dict[int, dict[str, list[str]]]:
    return {
        e.row_number: e.errors for e in ImportRowError.objects.filter(job=job, outcome="failed")
    }


def test_an_empty_file_and_a_file_with_only_headers(world) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        upload(world.admin, b"")
    assert caught.value.fields == {"file": ["The file is empty."]}
    job = run_import(world.admin, csv_bytes([["姓名", "邮箱"]]))
    assert (job.status, job.total_rows, job.created_count, job.failed_count) == ("done", 0, 0, 0)


def test_wrong_encoding_is_named_with_its_row_and_nothing_is_written(world) -> None:
    good = "姓名,邮箱\r\n".encode() + "张三,a@example.com\r\n".encode() * 20_000
    mixed = good + "李四,b@example.com\r\n".encode("gbk")  # a GBK line deep in a UTF-8 file
    job = run_import(world.admin, mixed, options={"duplicate_policy": "create"})
    assert job.status == "failed"
    assert "Row 20002 is not valid UTF-8" in job.message
    assert Contact.objects.count() == 0
    with pytest.raises(ValidationFailedError) as caught:
        upload(
            world.admin, "姓名\r\n张三\r\n".encode() + "李四\r\n".encode("gbk") + b"\xff\xfe\xfa"
        )
    assert "encoding" in caught.value.fields["file"][0]
    with pytest.raises(ValidationFailedError) as caught:
        upload(world.admin, b"\x00\x01\x02binary\x00" * 100)
    assert "binary" in caught.value.fields["file"][0]
    with pytest.raises(ValidationFailedError) as caught:
        upload(world.admin, "姓名\r\n张三\r\n".encode("gbk"), encoding="utf-8")
    assert "not valid UTF-8" in caught.value.fields["file"][0]


def test_gbk_and_bom_files_are_detected(world) -> None:
    rows = [["姓名", "城市"], ["张三", "上海"], ["李四", "北京"]]
    for encoding in ("gb18030", "utf-8-sig", "gbk"):
        job = upload(world.admin, csv_bytes(rows, encoding=encoding))
        assert job.headers == ["姓名", "城市"], encoding
        assert job.encoding in ("gb18030", "utf-8-sig")
    done = run_import(world.admin, csv_bytes(rows, encoding="gbk"))
    assert sorted(Contact.objects.values_list("city", flat=True)) == ["上海", "北京"]
    assert done.created_count == 2


def test_ragged_rows_huge_cells_formulas_and_script_tags(world) -> None:
    content = csv_bytes(
        [
            ["Name", "Email", "City"],
            ["Short row"],
            ["Too long", "t@example.com", "x", "extra"],
            ["Huge", "h@example.com", "c" * 1_048_576],
            ['=HYPERLINK("http://evil")', "f@example.com", ""],
            ["<script>alert(1)</script>", "s@example.com", ""],
            ["Bad mail", "not-an-email", ""],
        ]
    )
    job = run_import(world.admin, content)
    assert (job.status, job.created_count, job.failed_count) == ("done", 2, 4)
    errors = errors_of(job)
    assert "header names 3 columns" in errors[3]["__row__"][0]
    assert "1,048,576 characters" in errors[4]["city"][0]
    assert "Formulas are not imported" in errors[5]["name"][0]
    with pytest.raises(ValidationFailedError) as by_service:
        contact_create(actor=world.admin, values={"name": "x", "email": "not-an-email"})
    assert errors[7]["email"] == by_service.value.fields["email"]  # the services' own message
    script = Contact.objects.get(email_index__isnull=False, name__startswith="<script>")
    assert script.name == "<script>alert(1)</script>"  # kept as inert text, escaped when shown
    failed = b"".join(failed_rows_csv(job=job)).decode("utf-8-sig").splitlines()
    assert failed[0] == "Name,Email,City,错误 Error"
    assert failed[1].startswith("Too long,t@example.com,x,row 3:")
    assert len(failed) == 5


def test_dates_in_five_formats_and_excel_serials(world) -> None:
    rows = [["Order number", "Order date", "Item", "Quantity", "Unit price"]]
    stamps = [
        "2024-03-05",
        "2024/3/5",
        "2024年3月5日",
        "20240305",
        "5 Mar 2024",
        "Mar 5, 2024",
        "45356",
    ]
    rows += [[f"N{i}", stamp, "Widget", "1", "9.90"] for i, stamp in enumerate(stamps)]
    rows += [["BAD1", "03/05/2024", "Widget", "1", "1"], ["BAD2", "2024-02-30", "Widget", "1", "1"]]
    job = run_import(world.admin, csv_bytes(rows), target="order", options={"date_order": ""})
    errors = errors_of(job)
    assert "could be read day-first or month-first" in errors[9]["ordered_at"][0]
    assert errors[10]["ordered_at"] == ["This is not a real date."]
    days = {
        o.ordered_at.astimezone(importing.zoneinfo.ZoneInfo("Asia/Shanghai")).date().isoformat()
        for o in Order.objects.all()
    }
    assert days == {"2024-03-05"} and Order.objects.count() == 7
    order = Order.objects.get(number="N0")
    assert order.lines.get().amount == order.total == Decimal("9.90")


def test_xlsx_with_dates_numbers_and_a_second_sheet(world, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["姓名", "手机", "最近联系"])
    sheet.append(["王五", 13800138000, datetime(2024, 3, 5, 9, 30)])
    sheet.append(["赵六", "+86 139 0013 9000", None])
    path = tmp_path / "contacts.xlsx"
    workbook.save(path)
    job = run_import(world.admin, path.read_bytes(), name="contacts.xlsx")
    assert job.file_format == "xlsx" and job.created_count == 2
    assert Contact.objects.get(name="王五").phone == "+8613800138000"


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    world, settings, tmp_path: Path
) -> None:
    settings.IMPORT_MAX_BYTES = 100 * 1024 * 1024
    big = tmp_path / "big.csv"
    with big.open("wb") as out:
        out.write(b"Name,Email\r\n")
        line = b"Somebody,somebody@example.com\r\n" * 32768
        while out.tell() < 200 * 1024 * 1024:
            out.write(line)
    with big.open("rb") as handle, pytest.raises(ValidationFailedError) as caught:
        services.import_upload(
            actor=world.admin, upload=handle, file_name="big.csv", target="contact"
        )
    assert "files up to 100 MB can be imported" in caught.value.fields["file"][0]
    stream = io.BytesIO(b"Name\r\n" + b"x\r\n" * 1000)
    settings.IMPORT_MAX_BYTES = 1000  # a stream with no declared size is cut off while copied
    stream.size = None  # type: ignore[attr-defined]
    with pytest.raises(ValidationFailedError):
        services.import_upload(
            actor=world.admin, upload=stream, file_name="s.csv", target="contact"
        )
