"""Import targets for companies and people: accounts, contacts and leads."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from crm.core.company_keys import account_company_keys
from crm.core.normalise import company_key
from crm.customers.models import Account, Contact
from crm.customers.services import NAME_KEY_FIELDS
from crm.integrations.targets.base import (
    ACCOUNT_EXTERNAL_REF,
    ACCOUNT_REF,
    CHANNELS,
    EMAIL,
    EXTERNAL_ID,
    LEAD_STATUSES,
    OWNER,
    PHONE,
    PRIORITIES,
    FieldSpec,
    RowState,
    RunContext,
    Target,
    _chunks,
    _name_keys,
    _personal_value,
    join_name,
)
from crm.integrations.targets.companies import match_by_core_name, resolve_accounts
from crm.sales.models import Lead

# --- accounts -----------------------------------------------------------------------------------


class AccountTarget(Target):
    key = "account"
    model = Account
    fields = (
        FieldSpec(
            "name",
            "Name",
            "公司名称",
            (
                "company",
                "company name",
                "account name",
                "客户名称",
                "名称",
                "公司",
                "企业名称",
                "单位名称",
            ),
            required=True,
        ),
        FieldSpec("industry", "Industry", "行业", ("sector", "所属行业")),
        FieldSpec(
            "size", "Size", "规模", ("employees", "company size", "人数", "员工人数", "公司规模")
        ),
        FieldSpec("region", "Region", "地区", ("province", "state", "区域", "省份", "省")),
        FieldSpec("city", "City", "城市", ("town", "所在城市", "市")),
        FieldSpec("source", "Source", "来源", ("lead source", "客户来源", "渠道")),
        FieldSpec("website", "Website", "网站", ("url", "web", "网址", "官网", "主页")),
        FieldSpec(
            "phone",
            "Phone",
            "电话",
            ("telephone", "tel", "company phone", "公司电话", "总机", "座机"),
        ),
        EXTERNAL_ID,
        OWNER,
    )
    match_options = ("external_id", "name")
    default_match = ("external_id", "name")
    fast = True

    def prepare(self, row: RowState, ctx: RunContext) -> None:
        _name_keys(row)
        # as crm.customers.services.apply_company_keys, for the columns the file gives (an
        # empty cell leaves the stored value, and so its key, alone)
        values = row.values
        core, phone_key, website_key = account_company_keys(
            values.get("name", ""), values.get("phone", ""), values.get("website", "")
        )
        values["core_name_key"] = core
        if "phone" in values:
            values["phone_key"] = phone_key
        if "website" in values:
            values["website_key"] = website_key
        row.keys["external_id"] = values.get("external_id", "")
        row.keys["name"] = values.get("name_key", "")

    def find_existing(self, rows: list[RowState], ctx: RunContext) -> dict[int, dict[str, Any]]:
        base = Account.objects.filter(deleted_at__isnull=True)
        found: dict[int, dict[str, Any]] = {}
        reasons = {"external_id": _("same external ID"), "name": _("same name")}
        columns = {"external_id": "external_id", "name": "name_key"}
        for key in ctx.match_on:
            if key in columns:
                self.match_with(rows, ctx, key, columns[key], base, reasons[key], found)
        if "name" in ctx.match_on:
            match_by_core_name(rows, base, found)
        return found

    def updatable(self, row: RowState) -> dict[str, Any]:
        values = super().updatable(row)
        if row.extra.get("matched_by_core_name"):
            # the file spells the company another way (星辰科技 for 北京星辰科技有限公司):
            # an update keeps the name on record, and so its keys
            for name in ("name", *NAME_KEY_FIELDS, "core_name_key"):
                values.pop(name, None)
        return values


# --- contacts -----------------------------------------------------------------------------------


class ContactTarget(Target):
    key = "contact"
    model = Contact
    fields = (
        FieldSpec(
            "name",
            "Name",
            "姓名",
            ("full name", "contact name", "contact", "名字", "联系人", "联系人姓名", "客户姓名"),
            required=True,
        ),
        FieldSpec("name_family", "Last name", "姓", ("surname", "family name", "lastname", "last")),
        FieldSpec("name_given", "First name", "名", ("given name", "firstname", "first")),
        FieldSpec("title", "Title", "职位", ("job title", "position", "职务", "头衔", "岗位")),
        EMAIL,
        PHONE,
        FieldSpec(
            "id_number",
            "ID number",
            "身份证号",
            ("national id", "身份证", "证件号", "证件号码", "身份证号码"),
            "id_number",
        ),
        FieldSpec("wechat", "WeChat", "微信", ("weixin", "wechat id", "微信号")),
        FieldSpec("city", "City", "城市", ("town", "所在城市", "市")),
        FieldSpec(
            "preferred_channel",
            "Preferred channel",
            "首选渠道",
            ("channel", "偏好渠道", "联系方式偏好"),
            "choice",
            choices=CHANNELS,
        ),
        FieldSpec(
            "consent_email", "Email consent", "同意邮件", ("email opt in", "邮件订阅"), "bool"
        ),
        FieldSpec("consent_sms", "SMS consent", "同意短信", ("sms opt in", "短信订阅"), "bool"),
        FieldSpec("consent_phone", "Phone consent", "同意电话", ("phone opt in",), "bool"),
        FieldSpec("consent_wechat", "WeChat consent", "同意微信", ("wechat opt in",), "bool"),
        EXTERNAL_ID,
        ACCOUNT_REF,
        ACCOUNT_EXTERNAL_REF,
        OWNER,
    )
    match_options = ("external_id", "email", "phone", "name_company")
    default_match = ("external_id", "email", "phone")
    fast = True
    virtual = frozenset({"name_family", "name_given"})

    def prepare(self, row: RowState, ctx: RunContext) -> None:
        values = row.values
        family, given = values.pop("name_family", ""), values.pop("name_given", "")
        if not values.get("name") and (family or given):
            values["name"] = join_name(family, given)
        for name in ("email", "phone", "id_number"):
            _personal_value(row, name)
        _name_keys(row)
        row.keys["external_id"] = values.get("external_id", "")
        row.keys["email"] = mailbox_of(values)
        row.keys["phone"] = values.get("phone_index", "")
        company = row.refs.get("account", "")
        if company and values.get("name_key") and "name_company" in ctx.match_on:
            row.keys["name_company"] = (values["name_key"], company_key(company)[0])

    def resolve(self, rows: list[RowState], ctx: RunContext) -> None:
        super().resolve(rows, ctx)
        resolve_accounts(rows, ctx)

    def find_existing(self, rows: list[RowState], ctx: RunContext) -> dict[int, dict[str, Any]]:
        base = Contact.objects.filter(deleted_at__isnull=True)
        found: dict[int, dict[str, Any]] = {}
        reasons = {
            "external_id": _("same external ID"),
            "email": _("same email"),
            "phone": _("same phone"),
        }
        columns = {"external_id": "external_id", "email": "email_index", "phone": "phone_index"}
        for key in ctx.match_on:
            if key in columns:
                alias = "email_alias_index" if key == "email" else ""
                self.match_with(
                    rows, ctx, key, columns[key], base, reasons[key], found, alias_column=alias
                )
            elif key == "name_company":
                match_name_company(rows, base, found)
        return found

    def new_instance(self, row: RowState, ctx: RunContext) -> models.Model:
        instance = super().new_instance(row, ctx)
        instance.account = row.extra.get("account")  # type: ignore[attr-defined]
        return instance

    def new_values(self, row: RowState, ctx: RunContext) -> dict[str, Any]:
        values = super().new_values(row, ctx)
        account = row.extra.get("account")
        values["account_id"] = account.pk if account is not None else None
        return values

    def updatable(self, row: RowState) -> dict[str, Any]:
        values = super().updatable(row)
        if row.extra.get("account") is not None:
            values["account"] = row.extra["account"]
        return values


def mailbox_of(values: dict[str, Any]) -> str:
    """The email key a row is matched on: its mailbox (a+news@x.com -> a@x.com's blind
    index), which for a plain address is its own index (no second HMAC per row)."""
    return values.get("email_alias_index") or values.get("email_index", "")


def match_name_company(
    rows: list[RowState], base: models.QuerySet[Any], found: dict[int, dict[str, Any]]
) -> None:
    wanted = {
        row.keys["name_company"]
        for row in rows
        if row.keys.get("name_company") and row.match_id is None
    }
    if not wanted:
        return
    hits: dict[tuple[str, str], dict[str, Any]] = {}
    names = sorted({n for n, _c in wanted})
    for chunk in _chunks(names, 900):
        for hit in base.filter(name_key__in=chunk, account__isnull=False).values(
            "id", "name_key", "account__name", "owner_id", "owner__team_id"
        ):
            hits.setdefault((hit["name_key"], company_key(hit["account__name"])[0]), hit)
    for row in rows:
        key = row.keys.get("name_company")
        if key and row.match_id is None and key in hits:
            row.match_id = hits[key]["id"]
            row.reason = _("same name and company")
            found[row.match_id] = hits[key]


# --- leads --------------------------------------------------------------------------------------


class LeadTarget(Target):
    key = "lead"
    model = Lead
    fields = (
        FieldSpec(
            "name",
            "Name",
            "姓名",
            ("full name", "lead name", "名字", "联系人", "线索名称"),
            required=True,
        ),
        FieldSpec(
            "company",
            "Company",
            "公司",
            ("company name", "organisation", "organization", "公司名称", "单位", "企业"),
        ),
        FieldSpec("title", "Title", "职位", ("job title", "position", "职务")),
        EMAIL,
        PHONE,
        FieldSpec("source", "Source", "来源", ("lead source", "线索来源", "渠道")),
        FieldSpec("region", "Region", "地区", ("province", "区域", "省份")),
        FieldSpec(
            "status", "Status", "状态", ("lead status", "线索状态"), "choice", choices=LEAD_STATUSES
        ),
        FieldSpec("priority", "Priority", "优先级", ("等级",), "choice", choices=PRIORITIES),
        FieldSpec("consent", "Consent", "同意联系", ("opt in", "同意"), "bool"),
        FieldSpec("notes", "Notes", "备注", ("description", "comment", "comments", "说明", "描述")),
        OWNER,
    )
    match_options = ("email", "phone", "name_company")
    default_match = ("email", "phone")
    fast = True

    def prepare(self, row: RowState, ctx: RunContext) -> None:
        for name in ("email", "phone"):
            _personal_value(row, name)
        _name_keys(row)
        row.keys["email"] = mailbox_of(row.values)
        row.keys["phone"] = row.values.get("phone_index", "")
        company = row.values.get("company")
        if company and row.values.get("name_key") and "name_company" in ctx.match_on:
            row.keys["name_company"] = (row.values["name_key"], company_key(company)[0])

    def find_existing(self, rows: list[RowState], ctx: RunContext) -> dict[int, dict[str, Any]]:
        base = Lead.objects.filter(deleted_at__isnull=True)
        found: dict[int, dict[str, Any]] = {}
        reasons = {"email": _("same email"), "phone": _("same phone")}
        columns = {"email": "email_index", "phone": "phone_index"}
        for key in ctx.match_on:
            if key in columns:
                alias = "email_alias_index" if key == "email" else ""
                self.match_with(
                    rows, ctx, key, columns[key], base, reasons[key], found, alias_column=alias
                )
            elif key == "name_company":
                wanted = [r for r in rows if r.keys.get("name_company") and r.match_id is None]
                names = sorted({r.keys["name_company"][0] for r in wanted})
                hits: dict[tuple[str, str], dict[str, Any]] = {}
                for chunk in _chunks(names, 900):
                    for hit in base.filter(name_key__in=chunk).values(
                        "id", "name_key", "company", "owner_id", "owner__team_id"
                    ):
                        hits.setdefault((hit["name_key"], company_key(hit["company"])[0]), hit)
                for row in wanted:
                    lead_hit = hits.get(row.keys["name_company"])
                    if lead_hit is not None:
                        row.match_id, row.reason = lead_hit["id"], _("same name and company")
                        found[lead_hit["id"]] = lead_hit
        return found
