"""An admin imports contacts in the browser: upload a file, map the column the suggestion left
out, start, watch the progress bar move to 100% while the job runs, download the failed rows.

Jobs run inline in tests (HUEY immediate), which would finish the import before the page shows
it. Here the queue is switched to its real storage so the page sees the job waiting at 0% and
polls; the test then plays the worker and runs the queued job while the page keeps polling.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from huey.contrib.djhuey import HUEY
from playwright.sync_api import expect

from crm.customers.models import Contact
from crm.integrations import importing
from crm.integrations.models import ImportJob, JobStatus
from tests.e2e.conftest import DESK, PHONE, Browsing


def people_csv(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Person", "邮箱", "手机号"])
    for i in range(rows):
        writer.writerow([f"客户{i}", f"c{i}@example.com", f"1380013{i:04d}"])
    writer.writerow(["", "no-name@example.com", "13900000000"])  # fails: no name
    writer.writerow(["坏邮箱", "not-an-email", ""])  # fails: bad email
    return buffer.getvalue().encode("utf-8-sig")


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
def test_import_with_live_progress_and_failed_rows_download(
    world: Any,
    browse: Any,
    artifacts: Path,
    viewport: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(HUEY, "immediate", False)
    b: Browsing = browse(viewport)
    page = b.login(world.admin.user.username)
    page.goto(b.base + "/data/imports/")
    page.select_option("#target", "contact")
    page.set_input_files(
        "#file", {"name": "客户.csv", "mimeType": "text/csv", "buffer": people_csv(40)}
    )
    page.locator("form[enctype] button[type=submit]").click()
    page.wait_for_url(b.base + "/data/imports/*/")
    job = ImportJob.objects.get()

    # "Person" was not recognised: map it to the name by hand; the others were suggested.
    mapping = page.get_by_test_id("map-0")
    expect(mapping).to_have_value("")
    expect(page.get_by_test_id("map-1")).to_have_value("email")
    mapping.select_option("name")
    page.get_by_test_id("preview").click()
    expect(page.get_by_test_id("preview-table")).to_be_visible()
    expect(page.get_by_test_id("map-0")).to_have_value("name")
    page.get_by_test_id("start").click()

    progress = page.get_by_test_id("percent")
    expect(progress).to_have_text("0%")
    expect(page.get_by_test_id("import-progress")).to_have_attribute("hx-trigger", "every 1s")
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.mapping[0] == "name"

    done = importing.run(job.pk)  # the worker takes the queued job
    assert done is not None and done.status == JobStatus.DONE
    expect(progress).to_have_text("100%", timeout=10_000)  # the page polled and saw it finish
    expect(page.get_by_test_id("created")).to_have_text("40")
    expect(page.get_by_test_id("failed")).to_have_text("2")
    page.screenshot(path=str(artifacts / f"import-report-{viewport['width']}.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_test_id("failed-rows").click()
    download = info.value
    assert download.suggested_filename == f"import-{job.pk}-failed-rows.csv"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["Person", "邮箱", "手机号", "错误 Error"]
    assert [row[:3] for row in rows[1:]] == [
        ["", "no-name@example.com", "13900000000"],
        ["坏邮箱", "not-an-email", ""],
    ]
    assert rows[1][3].startswith("row 42: Person: ") and rows[2][3].startswith("row 43: 邮箱: ")
    assert Contact.objects.count() == 40
    page.goto("about:blank")  # no request of this page is still in flight when the server stops
