"""Exports of list views to CSV (UTF-8 with BOM, so Excel shows Chinese) and XLSX.

Rows come from the apps' own list selectors called with `actor=`, so an export shows exactly
what the member's list shows (own / team / all) with the same filters. Rows are streamed from
the database in chunks and written as they come; XLSX is written with openpyxl's write-only
mode. Every text cell that a spreadsheet would run as a formula (starting with = + - @, a tab
or a carriage return) gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import inspect
import io
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core.context import current_tenant_id
from crm.core.writes import field_error
from crm.integrations import files
from crm.integrations.models import ExportJob, JobStatus
from crm.tenancy.models import Membership, Tenant

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SYNC_LIMIT = 10_000
CHUNK = 2000

Getter = Callable[[Any], Any]


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate gets a leading apostrophe; others unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _mask_email(value: str) -> str:
    local, _at, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if value and domain else ("***" if value else "")


def _mask_phone(value: str) -> str:
    return (
        value[:6] + "*" * max(len(value) - 10, 0) + value[-4:]
        if len(value) > 10
        else ("****" if value else "")
    )


def _selectors() -> dict[str, Callable[..., Any]]:
    from crm.activities.selectors import activity_list
    from crm.customers.selectors import account_list, contact_list
    from crm.sales.selectors import lead_list, opportunity_list, order_list

    return {
        "contact": contact_list,
        "account": account_list,
        "lead": lead_list,
        "opportunity": opportunity_list,
        "order": order_list,
        "activity": activity_list,
    }


def _member_names() -> dict[int, str]:
    return {
        m.pk: str(m.display_name or m.user.get_username())
        for m in Membership.objects.select_related("user")
    }


# (key, English header, Chinese header, getter); headers match the import's aliases, so an
# exported file imports back with the suggested mapping.
Row = Mapping[str, Any]


def _get(name: str) -> Getter:
    return lambda row: row[name]


def _name_of(relation: str) -> Getter:
    key = f"{relation}__name"
    return lambda row: row[key] or ""


def _columns(
    target: str, members: Mapping[int, str], pii: bool
) -> list[tuple[str, str, str, Getter]]:
    """(key, English header, Chinese header, getter) per column; getters read `.values()` rows."""
    email: Getter = _get("email") if pii else (lambda row: _mask_email(row["email"]))
    phone: Getter = _get("phone") if pii else (lambda row: _mask_phone(row["phone"]))
    common_tail = [
        ("owner", "Owner", "负责人", lambda row: members.get(row["owner_id"], "")),
        ("created_at", "Created", "创建时间", _get("created_at")),
    ]
    if target == "contact":
        return [
            ("id", "ID", "ID", _get("id")),
            ("name", "Name", "姓名", _get("name")),
            ("title", "Title", "职位", _get("title")),
            ("email", "Email", "邮箱", email),
            ("phone", "Phone", "电话", phone),
            ("wechat", "WeChat", "微信", _get("wechat")),
            ("city", "City", "城市", _get("city")),
            ("account", "Company", "公司", _name_of("account")),
            ("external_id", "External ID", "外部编号", _get("external_id")),
            ("consent_email", "Email consent", "同意邮件", _get("consent_email")),
            ("consent_sms", "SMS consent", "同意短信", _get("consent_sms")),
            *common_tail,
        ]
    if target == "account":
        return [
            ("id", "ID", "ID", _get("id")),
            ("name", "Name", "公司名称", _get("name")),
            ("industry", "Industry", "行业", _get("industry")),
            ("size", "Size", "规模", _get("size")),
            ("region", "Region", "地区", _get("region")),
            ("city", "City", "城市", _get("city")),
            ("source", "Source", "来源", _get("source")),
            ("website", "Website", "网站", _get("website")),
            ("phone", "Phone", "电话", _get("phone")),
            ("external_id", "External ID", "外部编号", _get("external_id")),
            *common_tail,
        ]
    if target == "lead":
        return [
            ("id", "ID", "ID", _get("id")),
            ("name", "Name", "姓名", _get("name")),
            ("company", "Company", "公司", _get("company")),
            ("title", "Title", "职位", _get("title")),
            ("email", "Email", "邮箱", email),
            ("phone", "Phone", "电话", phone),
            ("source", "Source", "来源", _get("source")),
            ("status", "Status", "状态", _get("status")),
            ("priority", "Priority", "优先级", _get("priority")),
            ("score", "Score", "评分", _get("score")),
            *common_tail,
        ]
    if target == "opportunity":
        return [
            ("id", "ID", "ID", _get("id")),
            ("name", "Name", "商机名称", _get("name")),
            ("account", "Company", "公司", _name_of("account")),
            ("contact", "Contact", "联系人", _name_of("contact")),
            ("stage", "Stage", "阶段", _name_of("stage")),
            ("amount", "Amount", "金额", _get("amount")),
            ("currency", "Currency", "币种", _get("currency")),
            (
                "expected_close_date",
                "Expected close date",
                "预计成交日期",
                _get("expected_close_date"),
            ),
            *common_tail,
        ]
    if target == "order":
        return [
            ("id", "ID", "ID", _get("id")),
            ("number", "Order number", "订单号", _get("number")),
            ("ordered_at", "Order date", "下单时间", _get("ordered_at")),
            ("contact", "Contact", "联系人", _name_of("contact")),
            ("account", "Company", "公司", _name_of("account")),
            ("status", "Status", "订单状态", _get("status")),
            ("total", "Total", "金额", _get("total")),
            ("currency", "Currency", "币种", _get("currency")),
            *common_tail,
        ]
    if target == "activity":
        return [
            ("id", "ID", "ID", _get("id")),
            ("kind", "Type", "类型", _get("kind")),
            ("subject", "Subject", "主题", _get("subject")),
            ("at", "Date", "时间", _get("at")),
            ("outcome", "Outcome", "结果", _get("outcome")),
            ("record_type", "Record type", "关联类型", _get("record_type")),
            ("record_id", "Record ID", "关联编号", _get("record_id")),
            *common_tail,
        ]
    raise field_error("target", _("Unknown export target."))


def _value_names(target: str) -> list[str]:
    """The `.values()` names the columns of `target` read."""
    names = {"id": "id", "account": "account__name", "contact": "contact__name"}
    names |= {"stage": "stage__name", "owner": "owner_id"}
    return [names.get(key, key) for key, *_rest in _columns(target, {}, True)]


def check_filters(target: str, filters: Mapping[str, Any]) -> dict[str, Any]:
    """The filters the target's list selector accepts, typed as it expects them."""
    selector = _selectors().get(target)
    if selector is None:
        raise field_error("target", _("Unknown export target."))
    params = inspect.signature(selector).parameters
    cleaned: dict[str, Any] = {}
    for name, value in filters.items():
        if name.startswith("_") or value in (None, ""):
            continue
        param = params.get(name)
        if param is None or name == "actor" or param.kind != inspect.Parameter.KEYWORD_ONLY:
            raise field_error(name, _("This list cannot be filtered by this."))
        default = param.default
        try:
            if isinstance(default, bool) or name.startswith("is_"):
                cleaned[name] = (
                    value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                )
            elif name.endswith("_id"):
                cleaned[name] = int(value)
            elif isinstance(default, datetime) or name in ("since", "due_before"):
                cleaned[name] = datetime.fromisoformat(str(value))
            else:
                cleaned[name] = str(value)[:200]
        except (TypeError, ValueError) as exc:
            raise field_error(name, _("This value is not valid.")) from exc
    return cleaned


class Export:
    """One export: the rows of a list for an actor, as header + streamed rows."""

    def __init__(
        self, *, actor: Membership, target: str, filters: Mapping[str, Any], include_pii: bool
    ) -> None:
        cleaned = check_filters(target, filters)
        self.queryset = _selectors()[target](actor=actor, **cleaned)
        tenant = Tenant.objects.get(pk=current_tenant_id())
        self.tz = zoneinfo.ZoneInfo(tenant.time_zone or "UTC")
        self.columns = _columns(target, _member_names(), include_pii)
        english = tenant.language.startswith("en")
        self.headers = [en if english else zh for _k, en, zh, _g in self.columns]
        self.target = target

    def count_upto(self, limit: int) -> int:
        return int(self.queryset.order_by().values("pk")[: limit + 1].count())

    def rows(self) -> Iterator[list[Any]]:
        # Plain values, not model instances: the list selectors join the account and owner,
        # and building three objects per row made an export of 500,000 contacts take minutes.
        getters = [g for *_rest, g in self.columns]
        rows = self.queryset.values(*_value_names(self.target))
        for row in rows.iterator(chunk_size=CHUNK):
            yield [self._cell(g(row)) for g in getters]

    def _cell(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return timezone.localtime(value, self.tz).replace(tzinfo=None)
        if value is None:
            return ""
        return neutralise(value)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | Decimal):
        return str(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def csv_chunks(export: Export) -> Iterator[bytes]:
    """The CSV as UTF-8 with BOM, a few hundred rows per chunk (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(export.headers)
    for i, row in enumerate(export.rows(), start=1):
        writer.writerow([_text(v) for v in row])
        if i % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_csv(export: Export, path: Path, progress: Callable[[int], None] | None = None) -> int:
    count = 0
    with path.open("wb") as out:
        for chunk in csv_chunks(export):
            out.write(chunk)
            count += chunk.count(b"\r\n")
            if progress is not None:
                progress(max(count - 1, 0))
    return max(count - 1, 0)


def write_xlsx(export: Export, path: Path, progress: Callable[[int], None] | None = None) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(export.target)
    sheet.append(export.headers)
    count = 0
    for row in export.rows():
        cells = []
        for value in row:
            if isinstance(value, Decimal):
                value = float(value)
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
            cells.append(cell)
        sheet.append(cells)
        count += 1
        if progress is not None and count % CHUNK == 0:
            progress(count)
    workbook.save(path)
    return count


def export_job_run(job_id: int) -> ExportJob:
    """Write a large export to a file and notify the member who asked for it."""
    from crm.events.services import notification_create

    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) or job.created_by is None:
        return job
    ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    filters = dict(job.filters)
    include_pii = bool(filters.pop("_include_pii", True))
    export = Export(
        actor=job.created_by, target=job.target, filters=filters, include_pii=include_pii
    )
    relative, path = files.new_path("exports", f".{job.file_format}")

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(rows_done=done)

    writer = write_xlsx if job.file_format == "xlsx" else write_csv
    rows = writer(export, path, progress)
    stamp = timezone.localtime(timezone.now(), export.tz).strftime("%Y%m%d-%H%M")
    ExportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE,
        rows_done=rows,
        file_path=relative,
        file_name=f"{job.target}-{stamp}.{job.file_format}",
        file_size=path.stat().st_size,
        finished_at=timezone.now(),
    )
    notification_create(
        recipient=job.created_by,
        kind="export_ready",
        message=_("Your export of %(n)s rows is ready.") % {"n": f"{rows:,}"},
        link=f"/api/v1/exports/{job.pk}/file",
        dedupe_key=f"export:{job.pk}",
    )
    job.refresh_from_db()
    return job
