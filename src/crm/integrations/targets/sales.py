"""Import targets for sales: opportunities, orders with their lines, and activities."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from crm.activities.models import Activity
from crm.core import crypto
from crm.core.normalise import InvalidValueError, name_key, normalise_email
from crm.customers.models import Contact
from crm.integrations.targets.base import (
    ACCOUNT_EXTERNAL_REF,
    ACCOUNT_REF,
    ACTIVITY_KINDS,
    CONTACT_EMAIL_REF,
    CONTACT_EXTERNAL_REF,
    CONTACT_REF,
    ORDER_STATUSES,
    OWNER,
    FieldSpec,
    RowState,
    RunContext,
    Target,
    _chunks,
)
from crm.integrations.targets.companies import resolve_accounts
from crm.sales.models import Opportunity, Order

# --- opportunities ------------------------------------------------------------------------------


class OpportunityTarget(Target):
    key = "opportunity"
    model = Opportunity
    fields = (
        FieldSpec(
            "name",
            "Name",
            "商机名称",
            ("opportunity", "deal", "deal name", "opportunity name", "名称", "商机", "项目"),
            required=True,
        ),
        FieldSpec(
            "amount", "Amount", "金额", ("value", "deal value", "预计金额", "商机金额"), "decimal"
        ),
        FieldSpec("currency", "Currency", "币种", ("货币",)),
        FieldSpec(
            "expected_close_date",
            "Expected close date",
            "预计成交日期",
            ("close date", "closing date", "预计签单日期", "成交日期"),
            "date",
        ),
        FieldSpec("stage", "Stage", "阶段", ("sales stage", "销售阶段"), "ref"),
        ACCOUNT_REF,
        ACCOUNT_EXTERNAL_REF,
        CONTACT_REF,
        CONTACT_EMAIL_REF,
        CONTACT_EXTERNAL_REF,
        OWNER,
    )
    match_options = ("name_company",)
    default_match = ("name_company",)

    def prepare(self, row: RowState, ctx: RunContext) -> None:
        if "currency" in row.values:
            row.values["currency"] = str(row.values["currency"]).upper()
        company = row.refs.get("account", "")
        row.keys["name_company"] = (row.values.get("name", "").strip().lower(), name_key(company))

    def resolve(self, rows: list[RowState], ctx: RunContext) -> None:
        super().resolve(rows, ctx)
        resolve_accounts(rows, ctx)
        resolve_contacts(rows)
        resolve_stages(rows)

    def find_existing(self, rows: list[RowState], ctx: RunContext) -> dict[int, dict[str, Any]]:
        if "name_company" not in ctx.match_on:
            return {}
        found: dict[int, dict[str, Any]] = {}
        names = sorted({r.values["name"] for r in rows if r.values.get("name")})
        hits: dict[tuple[str, str], dict[str, Any]] = {}
        for chunk in _chunks(names, 900):
            for hit in Opportunity.objects.filter(deleted_at__isnull=True, name__in=chunk).values(
                "id", "name", "account__name_key", "owner_id", "owner__team_id"
            ):
                hits.setdefault((hit["name"].strip().lower(), hit["account__name_key"] or ""), hit)
        for row in rows:
            opp_hit = hits.get(row.keys.get("name_company", ("", "")))
            if opp_hit is not None and row.match_id is None:
                row.match_id, row.reason = opp_hit["id"], _("same name and company")
                found[opp_hit["id"]] = opp_hit
        return found

    def new_instance(self, row: RowState, ctx: RunContext) -> models.Model:
        from django.utils import timezone

        instance = super().new_instance(row, ctx)
        assert isinstance(instance, Opportunity)
        stage = row.extra["stage"]
        instance.pipeline_id = stage.pipeline_id
        instance.stage = stage
        instance.probability = stage.probability
        instance.account = row.extra.get("account")
        instance.contact = row.extra.get("contact")
        instance.stage_entered_at = timezone.now()
        instance.closed_at = instance.stage_entered_at if stage.is_closed else None
        return instance

    def after_create(self, rows: list[RowState], ctx: RunContext) -> None:
        from crm.sales.models import StageChange

        StageChange.objects.bulk_create(
            [
                StageChange(
                    tenant_id=r.instance.tenant_id,
                    opportunity=r.instance,
                    from_stage=None,
                    to_stage=r.instance.stage,
                    at=r.instance.stage_entered_at,
                    by=ctx.actor,
                    amount=r.instance.amount,
                )
                for r in rows
            ]
        )


def resolve_stages(rows: list[RowState]) -> None:
    from crm.sales.models import Pipeline, Stage

    pipeline = Pipeline.objects.order_by("-is_default", "id").first()
    stages = (
        list(Stage.objects.filter(pipeline=pipeline).order_by("order", "id")) if pipeline else []
    )
    by_name = {s.name.strip().lower(): s for s in stages}
    for row in rows:
        if row.action == "fail":
            continue
        if not stages:
            row.fail("stage", _("Create a pipeline first."))
            row.action = "fail"
            continue
        text = row.refs.get("stage", "")
        stage = by_name.get(text.strip().lower()) if text else stages[0]
        if stage is None:
            row.fail("stage", _("No stage named “%s” in the default pipeline.") % text)
            row.action = "fail"
        else:
            row.extra["stage"] = stage


def resolve_contacts(rows: list[RowState]) -> None:
    """The contact of each row by external ID, email (blind index) or exact name."""
    live = [r for r in rows if r.action != "fail"]
    base = Contact.objects.filter(deleted_at__isnull=True)
    ext = {r.refs["contact_external_id"] for r in live if r.refs.get("contact_external_id")}
    emails: dict[str, str] = {}
    for r in live:
        text = r.refs.get("contact_email", "")
        if text:
            try:
                emails[text] = crypto.blind_index("email", normalise_email(text))
            except InvalidValueError:
                r.fail("contact_email", _("Enter a valid email address."))
                r.action = "fail"
    names = {name_key(r.refs["contact"]) for r in live if r.refs.get("contact")}
    found_ext: dict[str, list[int]] = defaultdict(list)
    found_email: dict[str, list[int]] = defaultdict(list)
    found_name: dict[str, list[int]] = defaultdict(list)
    for chunk in _chunks(sorted(ext), 900):
        for pk, value in base.filter(external_id__in=chunk).values_list("id", "external_id"):
            found_ext[value].append(pk)
    for chunk in _chunks(sorted(set(emails.values())), 900):
        for pk, value in base.filter(email_index__in=chunk).values_list("id", "email_index"):
            found_email[value].append(pk)
    for chunk in _chunks(sorted(n for n in names if n), 900):
        for pk, value in base.filter(name_key__in=chunk).values_list("id", "name_key"):
            found_name[value].append(pk)
    for row in live:
        if row.action == "fail":
            continue
        options = [
            ("contact_external_id", found_ext.get(row.refs.get("contact_external_id", ""), [])),
            (
                "contact_email",
                found_email.get(emails.get(row.refs.get("contact_email", ""), ""), []),
            ),
            ("contact", found_name.get(name_key(row.refs.get("contact", "")), [])),
        ]
        for ref, ids in options:
            if not row.refs.get(ref):
                continue
            if len(ids) == 1:
                row.extra["contact_id"] = ids[0]
            elif ids:
                row.fail(ref, _("Several contacts match; give the email or external ID instead."))
            else:
                row.fail(ref, _("No such contact."))
            break
        if row.errors:
            row.action = "fail"
    if any("contact_id" in r.extra for r in live):
        wanted_ids = {r.extra["contact_id"] for r in live if "contact_id" in r.extra}
        contacts = {
            c.pk: c
            for c in Contact.objects.filter(pk__in=wanted_ids).only("id", "name", "account_id")
        }
        for row in live:
            if "contact_id" in row.extra:
                row.extra["contact"] = contacts[row.extra["contact_id"]]


# --- orders with lines --------------------------------------------------------------------------


class OrderTarget(Target):
    """One row per order line; consecutive rows with the same order number make one order."""

    key = "order"
    model = Order
    fields = (
        FieldSpec(
            "number",
            "Order number",
            "订单号",
            ("order", "order no", "order id", "number", "订单编号", "单号"),
            required=True,
        ),
        FieldSpec(
            "ordered_at",
            "Order date",
            "下单时间",
            ("date", "order date", "ordered at", "订单日期", "日期", "下单日期"),
            "datetime",
            required=True,
        ),
        FieldSpec(
            "status",
            "Status",
            "订单状态",
            ("order status", "状态"),
            "choice",
            choices=ORDER_STATUSES,
        ),
        FieldSpec("currency", "Currency", "币种", ("货币",)),
        FieldSpec(
            "line_description",
            "Item",
            "商品",
            ("product", "description", "item name", "商品名称", "产品", "品名", "描述"),
            "text",
        ),
        FieldSpec(
            "line_sku", "SKU", "商品编码", ("product code", "sku code", "货号", "编码"), "text"
        ),
        FieldSpec(
            "line_category", "Category", "品类", ("product category", "类别", "分类"), "text"
        ),
        FieldSpec("line_quantity", "Quantity", "数量", ("qty", "count", "件数"), "decimal"),
        FieldSpec("line_unit_price", "Unit price", "单价", ("price", "售价"), "decimal"),
        CONTACT_REF,
        CONTACT_EMAIL_REF,
        CONTACT_EXTERNAL_REF,
        ACCOUNT_REF,
        ACCOUNT_EXTERNAL_REF,
        OWNER,
    )
    match_options = ("number",)
    default_match = ("number",)
    virtual = frozenset(
        {"line_description", "line_sku", "line_category", "line_quantity", "line_unit_price"}
    )
    group_key = "number"

    def prepare(self, row: RowState, ctx: RunContext) -> None:
        line = {
            k.removeprefix("line_"): row.values.pop(k)
            for k in list(row.values)
            if k.startswith("line_")
        }
        row.extra["line"] = line
        for name in ("quantity", "unit_price"):
            if name in line and line[name] < 0:
                row.fail(f"line_{name}", _("Ensure this value is greater than or equal to 0."))
        if "currency" in row.values:
            row.values["currency"] = str(row.values["currency"]).upper()
        row.keys["number"] = row.values.get("number", "")

    def resolve(self, rows: list[RowState], ctx: RunContext) -> None:
        super().resolve(rows, ctx)
        ctx_create = ctx.create_missing
        ctx.create_missing = False  # an order never invents a company
        try:
            resolve_accounts(rows, ctx)
        finally:
            ctx.create_missing = ctx_create
        resolve_contacts(rows)
        from crm.sales.models import Product

        skus = {r.extra["line"].get("sku") for r in rows if r.extra.get("line", {}).get("sku")}
        products = {p.sku: p for p in Product.objects.filter(sku__in=sorted(skus))} if skus else {}
        for row in rows:
            sku = row.extra.get("line", {}).get("sku")
            if sku and row.action != "fail":
                if sku not in products:
                    row.fail("line_sku", _("No product has this SKU."))
                    row.action = "fail"
                else:
                    row.extra["product"] = products[sku]

    def find_existing(self, rows: list[RowState], ctx: RunContext) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        self.match_with(
            rows, ctx, "number", "number", Order.objects.all(), _("same order number"), found
        )
        return found

    def new_instance(self, row: RowState, ctx: RunContext) -> models.Model:
        instance = super().new_instance(row, ctx)
        assert isinstance(instance, Order)
        instance.contact = row.extra.get("contact")
        account = row.extra.get("account")
        instance.account_id = (
            account.pk
            if account is not None
            else (row.extra["contact"].account_id if row.extra.get("contact") else None)
        )
        return instance

    def after_create(self, rows: list[RowState], ctx: RunContext) -> None:
        from decimal import Decimal

        from crm.sales.models import OrderLine

        lines = []
        for row in rows:
            order = row.instance
            total = Decimal("0")
            for part in [row, *row.extra.get("continued", [])]:
                line = part.extra.get("line") or {}
                if not line:
                    continue
                product = part.extra.get("product")
                quantity = Decimal(line.get("quantity", 1))
                unit_price = Decimal(line.get("unit_price", product.price if product else 0))
                amount = (quantity * unit_price).quantize(Decimal("0.01"))
                total += amount
                lines.append(
                    OrderLine(
                        tenant_id=order.tenant_id,
                        order=order,
                        product=product,
                        description=str(
                            line.get("description") or (product.name if product else "")
                        )[:200],
                        category=str(line.get("category") or (product.category if product else ""))[
                            :100
                        ],
                        quantity=quantity,
                        unit_price=unit_price,
                        amount=amount,
                    )
                )
            if total != order.total:
                order.total = total
                Order.objects.filter(pk=order.pk).update(total=total)
        OrderLine.objects.bulk_create(lines)


# --- activities ---------------------------------------------------------------------------------


class ActivityTarget(Target):
    key = "activity"
    model = Activity
    fields = (
        FieldSpec(
            "kind",
            "Type",
            "类型",
            ("kind", "activity type", "活动类型", "方式"),
            "choice",
            required=True,
            choices=ACTIVITY_KINDS,
        ),
        FieldSpec("subject", "Subject", "主题", ("title", "标题", "事项"), required=True),
        FieldSpec(
            "body", "Details", "内容", ("body", "notes", "description", "详情", "备注", "记录")
        ),
        FieldSpec(
            "at",
            "Date",
            "时间",
            ("when", "date", "time", "activity date", "日期", "发生时间"),
            "datetime",
            required=True,
        ),
        FieldSpec("outcome", "Outcome", "结果", ("result", "跟进结果")),
        FieldSpec(
            "duration_minutes",
            "Duration (minutes)",
            "时长（分钟）",  # noqa: RUF001 - a Chinese header as people write it
            ("duration", "minutes", "时长", "分钟"),
            "int",
        ),
        CONTACT_REF,
        CONTACT_EMAIL_REF,
        CONTACT_EXTERNAL_REF,
        OWNER,
    )
    match_options = ("same_moment",)
    default_match = ("same_moment",)

    def prepare(self, row: RowState, ctx: RunContext) -> None:
        if not any(row.refs.get(k) for k in ("contact", "contact_email", "contact_external_id")):
            row.fail("contact", _("Name the contact this activity is about."))

    def resolve(self, rows: list[RowState], ctx: RunContext) -> None:
        super().resolve(rows, ctx)
        resolve_contacts(rows)
        for row in rows:
            if row.action != "fail" and "contact_id" in row.extra:
                row.values["record_type"] = "contact"
                row.values["record_id"] = row.extra["contact_id"]
                row.keys["same_moment"] = (
                    row.extra["contact_id"],
                    row.values["at"],
                    row.values["subject"],
                )

    def find_existing(self, rows: list[RowState], ctx: RunContext) -> dict[int, dict[str, Any]]:
        if "same_moment" not in ctx.match_on:
            return {}
        found: dict[int, dict[str, Any]] = {}
        ids = sorted({r.extra["contact_id"] for r in rows if "contact_id" in r.extra})
        hits: dict[tuple[Any, ...], dict[str, Any]] = {}
        for chunk in _chunks(ids, 900):
            for hit in Activity.objects.filter(record_type="contact", record_id__in=chunk).values(
                "id", "record_id", "at", "subject", "owner_id", "owner__team_id"
            ):
                hits.setdefault((hit["record_id"], hit["at"], hit["subject"]), hit)
        for row in rows:
            moment_hit = hits.get(row.keys.get("same_moment", ()))
            if moment_hit is not None and row.match_id is None:
                row.match_id, row.reason = moment_hit["id"], _("same contact, time and subject")
                found[moment_hit["id"]] = moment_hit
        return found
