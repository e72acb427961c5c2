"""What can be imported: the fields of each record type, their headers in English and Chinese,
how a row becomes a record, how a row finds its duplicate and how relations are resolved.

The engine (`importing.py`) reads rows, calls `Target.prepare` on each (pure: parse, normalise,
validate), then `Target.resolve` and `Target.find_existing` once per batch (a few indexed
queries), and writes the batch. Values go through the same normalisers as the services
(crm.core.normalise, blind indexes, `apply_name_keys`) and the model fields' own `clean()`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from types import SimpleNamespace
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

from crm.activities.models import Activity, ActivityKind
from crm.core import crypto
from crm.core.normalise import (
    InvalidValueError,
    name_key,
    normalise_email,
    normalise_id_number,
)
from crm.customers.models import Account, Channel, Contact
from crm.customers.services import apply_name_keys
from crm.integrations.bulk import fast_clean, ids_where_in, normalise_phone
from crm.integrations.values import (
    CellError,
    clean_text,
    header_key,
    parse_bool,
    parse_choice,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
)
from crm.sales.models import Lead, LeadStatus, Opportunity, Order, OrderStatus, Priority
from crm.tenancy.models import Membership, Visibility

# --- field descriptions -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    label_zh: str
    aliases: tuple[str, ...] = ()
    kind: str = "text"  # text email phone id_number bool int decimal date datetime choice ref
    required: bool = False
    choices: Mapping[str, str] | None = None  # lower-case code or label -> stored value

    def header_keys(self) -> set[str]:
        return {header_key(a) for a in (self.key, self.label, self.label_zh, *self.aliases)}


def choice_lookup(
    choices: type[models.TextChoices], zh: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for value, label in choices.choices:
        lookup[str(value).lower()] = str(value)
        lookup[str(label).lower()] = str(value)
        for alias in zh.get(str(value), ()):
            lookup[alias.lower()] = str(value)
    return lookup


CHANNELS = choice_lookup(
    Channel,
    {
        "email": ["邮件", "邮箱", "电子邮件", "e-mail"],
        "sms": ["短信", "text"],
        "phone": ["电话", "手机", "call"],
        "wechat": ["微信", "weixin"],
    },
)
LEAD_STATUSES = choice_lookup(
    LeadStatus,
    {
        "new": ["新建", "新线索", "未处理"],
        "working": ["跟进中", "处理中", "联系中"],
        "qualified": ["合格", "已确认", "有效"],
        "unqualified": ["不合格", "无效"],
        "converted": ["已转化", "已转换"],
    },
)
PRIORITIES = choice_lookup(
    Priority, {"high": ["高", "紧急"], "medium": ["中", "普通", "一般"], "low": ["低"]}
)
ORDER_STATUSES = choice_lookup(
    OrderStatus,
    {
        "pending": ["待付款", "待处理", "未付款"],
        "paid": ["已付款", "已支付", "完成", "已完成"],
        "shipped": ["已发货"],
        "cancelled": ["已取消", "取消"],
        "refunded": ["已退款", "退款"],
    },
)
ACTIVITY_KINDS = choice_lookup(
    ActivityKind,
    {
        "call": ["电话", "通话", "打电话", "phone call"],
        "email": ["邮件", "电子邮件"],
        "meeting": ["会议", "开会", "会面"],
        "visit": ["拜访", "上门", "走访"],
        "note": ["备注", "笔记", "记录"],
    },
)

EXTERNAL_ID = FieldSpec(
    "external_id",
    "External ID",
    "外部编号",
    ("id", "record id", "外部ID", "编号", "客户编号", "原系统编号", "crm id"),
)
OWNER = FieldSpec(
    "owner",
    "Owner",
    "负责人",
    ("assigned to", "sales rep", "所有者", "归属人", "销售", "跟进人"),
    "ref",
)
ACCOUNT_REF = FieldSpec(
    "account",
    "Company",
    "公司",
    (
        "account",
        "company name",
        "organisation",
        "organization",
        "公司名称",
        "单位",
        "企业",
        "所属公司",
        "客户公司",
        "account name",
    ),
    "ref",
)
ACCOUNT_EXTERNAL_REF = FieldSpec(
    "account_external_id",
    "Company external ID",
    "公司编号",
    ("account id", "company id", "公司外部编号"),
    "ref",
)
CONTACT_REF = FieldSpec(
    "contact",
    "Contact",
    "联系人",
    ("contact name", "customer", "客户", "联系人姓名", "客户姓名"),
    "ref",
)
CONTACT_EMAIL_REF = FieldSpec(
    "contact_email", "Contact email", "联系人邮箱", ("customer email", "客户邮箱"), "ref"
)
CONTACT_EXTERNAL_REF = FieldSpec(
    "contact_external_id",
    "Contact external ID",
    "联系人编号",
    ("contact id", "customer id", "客户编号"),
    "ref",
)
EMAIL = FieldSpec(
    "email",
    "Email",
    "邮箱",
    ("e-mail", "email address", "mail", "电子邮件", "电子邮箱", "邮件", "邮件地址"),
    "email",
)
PHONE = FieldSpec(
    "phone",
    "Phone",
    "电话",
    (
        "mobile",
        "telephone",
        "tel",
        "cell",
        "phone number",
        "mobile phone",
        "手机",
        "手机号",
        "手机号码",
        "联系电话",
        "电话号码",
        "移动电话",
    ),
    "phone",
)


# Computed by `prepare` (search keys, blind indexes), always within their columns' limits.
DERIVED = frozenset(
    {"name_key", "pinyin_key", "initials_key", "email_index", "phone_index", "id_number_index"}
)

# --- rows ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class RowState:
    """One data row on its way through the engine."""

    number: int
    cells: list[Any]
    values: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    keys: dict[str, Any] = field(default_factory=dict)
    action: str = ""  # create | update | skip | fail | blank
    match_id: int | None = None
    reason: str = ""
    instance: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(str(message))


@dataclass
class RunContext:
    """What every row of one import needs: who imports, the options, and lookups made once."""

    actor: Membership
    tz: tzinfo
    policy: str = "skip"
    match_on: tuple[str, ...] = ()
    date_order: str = ""
    create_missing: bool = True
    dry_run: bool = False
    default_owner: Membership | None = None
    members: dict[str, Membership] = field(default_factory=dict)
    #: companies already looked up in this run, by external ID and by name key (see
    #: resolve_accounts); the import adds the ones it creates
    accounts_by_ext: dict[str, list[Account]] = field(default_factory=dict)
    accounts_by_name: dict[str, list[Account]] = field(default_factory=dict)

    def remember_accounts(self, accounts: Iterable[Account]) -> None:
        for account in accounts:
            self.accounts_by_name[account.name_key] = [account]
            if account.external_id:
                self.accounts_by_ext[account.external_id] = [account]

    def owner_for(self, row: RowState) -> Membership | None:
        text = row.refs.get("owner", "")
        if not text:
            return self.default_owner or self.actor
        owner = self.members.get(text.lower())
        if owner is None:
            row.fail("owner", _("No member named “%s”.") % text)
            return None
        if not owner.is_active:
            row.fail("owner", _("This member is not active."))
            return None
        if owner.pk != self.actor.pk:
            if self.actor.visibility == Visibility.OWN:
                row.fail("owner", _("You can only assign records to yourself."))
                return None
            if self.actor.visibility == Visibility.TEAM and owner.team_id != self.actor.team_id:
                row.fail("owner", _("You can only assign records within your team."))
                return None
        return owner

    def can_change(self, owner_id: int | None, owner_team_id: int | None) -> bool:
        """The rule of crm.tenancy.permissions.can_see_owner, on ids already fetched."""
        if not self.actor.can_write:
            return False
        if self.actor.visibility == Visibility.ALL:
            return True
        if owner_id is None:
            return self.actor.visibility == Visibility.TEAM
        if owner_id == self.actor.pk:
            return True
        return (
            self.actor.visibility == Visibility.TEAM
            and self.actor.team_id is not None
            and owner_team_id == self.actor.team_id
        )


def member_lookup(members: Iterable[Membership]) -> dict[str, Membership]:
    """Members by display name, username and user email, lower-cased."""
    lookup: dict[str, Membership] = {}
    for m in members:
        for key in (m.display_name, m.user.get_username(), getattr(m.user, "email", "")):
            if key:
                lookup.setdefault(str(key).lower(), m)
    return lookup


# --- the base target ----------------------------------------------------------------------------


class Target:
    key: ClassVar[str]
    model: ClassVar[type[models.Model]]
    fields: ClassVar[tuple[FieldSpec, ...]]
    match_options: ClassVar[tuple[str, ...]] = ()
    default_match: ClassVar[tuple[str, ...]] = ()
    #: values of these keys are model attributes; others are handled by `prepare`
    virtual: ClassVar[frozenset[str]] = frozenset()
    #: a row that repeats the key of the previous row continues the same record (order lines)
    group_key: ClassVar[str] = ""
    #: written with crm.integrations.bulk.bulk_insert (no model instances, no children)
    fast: ClassVar[bool] = False

    def __init__(self) -> None:
        self.by_key = {f.key: f for f in self.fields}
        self.model_fields = {
            f.name: f for f in self.model._meta.concrete_fields if not f.primary_key
        }

    # -- per row, no database --------------------------------------------------------------------

    def parse(self, row: RowState, mapping: Sequence[str], ctx: RunContext) -> None:
        cells = row.cells
        if len(cells) > len(mapping) and any(
            c not in (None, "") and str(c).strip() for c in cells[len(mapping) :]
        ):
            row.fail(
                "__row__",
                _("This row has %(n)s cells but the header names %(m)s columns.")
                % {"n": len(cells), "m": len(mapping)},
            )
        for index, key in enumerate(mapping):
            if not key or index >= len(cells):
                continue
            spec = self.by_key[key]
            cell = cells[index]
            try:
                value = self.parse_cell(spec, cell, ctx)
            except CellError as exc:
                row.fail(key, str(exc))
                continue
            if value is None or value == "":
                continue
            if spec.kind == "ref":
                row.refs.setdefault(key, value)
            else:
                row.values.setdefault(key, value)

    def parse_cell(self, spec: FieldSpec, cell: Any, ctx: RunContext) -> Any:
        kind = spec.kind
        if kind in ("text", "ref", "email", "phone", "id_number"):
            return clean_text(cell)
        if kind == "bool":
            return parse_bool(cell)
        if kind == "int":
            return parse_int(cell)
        if kind == "decimal":
            return parse_decimal(cell)
        if kind == "date":
            return parse_date(cell, date_order=ctx.date_order)
        if kind == "datetime":
            return parse_datetime(cell, tz=ctx.tz, date_order=ctx.date_order)
        if kind == "choice":
            return parse_choice(cell, spec.choices or {})
        raise AssertionError(kind)

    def prepare(self, row: RowState, ctx: RunContext) -> None:
        """Derived values and dedupe keys; subclasses extend. Then the model fields' clean()."""

    def validate(self, row: RowState) -> None:
        for spec in self.fields:
            missing = spec.required and spec.kind != "ref" and not row.values.get(spec.key)
            if missing and spec.key not in row.errors:
                row.fail(spec.key, _("This field cannot be blank."))
        for name, value in row.values.items():
            model_field = self.model_fields.get(name)
            if model_field is None or name in row.errors or name in DERIVED:
                continue
            try:
                row.values[name] = fast_clean(model_field, value)
            except ValidationError as exc:
                row.errors[name] = [str(m) for m in exc.messages]

    def prepare_row(self, row: RowState, mapping: Sequence[str], ctx: RunContext) -> None:
        self.parse(row, mapping, ctx)
        if not row.values and not row.refs and not row.errors:
            row.action = "blank"
            return
        self.prepare(row, ctx)
        self.validate(row)
        if row.errors:
            row.action = "fail"

    # -- per batch, reads ------------------------------------------------------------------------

    def resolve(self, rows: list[RowState], ctx: RunContext) -> None:
        """Relations (company, contact, owner) for the rows of a batch."""
        for row in rows:
            if row.action != "fail":
                owner = ctx.owner_for(row)
                row.extra["owner"] = owner
                if row.errors:
                    row.action = "fail"

    def find_existing(self, rows: list[RowState], ctx: RunContext) -> dict[int, dict[str, Any]]:
        """Match rows to existing records; returns {record id: {owner_id, owner_team_id}}."""
        return {}

    # -- writes ----------------------------------------------------------------------------------

    def new_instance(self, row: RowState, ctx: RunContext) -> models.Model:
        instance = self.model(**{k: v for k, v in row.values.items() if k in self.model_fields})
        owner = row.extra.get("owner")
        if owner is not None and "owner" in self.model_fields:
            instance.owner = owner  # type: ignore[attr-defined]
        return instance

    def new_values(self, row: RowState, ctx: RunContext) -> dict[str, Any]:
        """The column values (by attname) of the record a row creates, for `bulk_insert`."""
        values = {k: v for k, v in row.values.items() if k in self.model_fields}
        owner = row.extra.get("owner")
        if "owner" in self.model_fields:
            values["owner_id"] = owner.pk if owner is not None else None
        return values

    def updatable(self, row: RowState) -> dict[str, Any]:
        """The values an update may set: what the row gives (empty cells leave values alone)."""
        return {k: v for k, v in row.values.items() if k in self.model_fields}

    def after_create(self, rows: list[RowState], ctx: RunContext) -> None:
        """Children of the created records (order lines); runs inside the batch transaction."""

    def match_with(
        self,
        rows: list[RowState],
        ctx: RunContext,
        key: str,
        column: str,
        base: models.QuerySet[Any],
        reason: str,
        found: dict[int, dict[str, Any]],
    ) -> None:
        wanted = {row.keys[key] for row in rows if row.keys.get(key) and row.match_id is None}
        if not wanted:
            return
        # Most rows of a big import match nothing: probe the (tenant, column) index alone
        # (no table row is read), then read the few candidates in full.
        candidates = ids_where_in(base.model, column, sorted(wanted, key=str))
        hits: dict[Any, dict[str, Any]] = {}
        for chunk in _chunks(sorted(candidates), 900):
            for hit in (
                base.filter(pk__in=chunk)
                .order_by("pk")
                .values("id", column, "owner_id", "owner__team_id")
            ):
                hits.setdefault(hit[column], hit)
        for row in rows:
            match = hits.get(row.keys.get(key)) if row.match_id is None else None
            if match is not None:
                row.match_id = match["id"]
                row.reason = reason
                found[match["id"]] = match


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _personal_value(row: RowState, name: str) -> None:
    """Normalise email / phone / ID number as the services do and add its blind index."""
    raw = row.values.get(name)
    if not raw:
        return
    try:
        if name == "email":
            clean = normalise_email(raw)
            row.values[name] = clean
        elif name == "phone":
            clean = normalise_phone(raw)
            row.values[name] = clean
        else:
            clean = normalise_id_number(raw)
    except InvalidValueError as exc:
        row.fail(name, _(str(exc)))
        return
    row.values[f"{name}_index"] = crypto.blind_index(name, clean)


def _name_keys(row: RowState) -> None:
    holder = SimpleNamespace()
    apply_name_keys(holder, row.values.get("name", ""))
    row.values["name_key"] = holder.name_key
    row.values["pinyin_key"] = holder.pinyin_key
    row.values["initials_key"] = holder.initials_key


def join_name(family: str, given: str) -> str:
    """姓 + 名 without a space for Chinese names; "given family" for others."""
    if any("\u3400" <= ch <= "\u9fff" for ch in family + given):
        return f"{family}{given}"
    return f"{given} {family}".strip()


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
        row.keys["external_id"] = row.values.get("external_id", "")
        row.keys["name"] = row.values.get("name_key", "")

    def find_existing(self, rows: list[RowState], ctx: RunContext) -> dict[int, dict[str, Any]]:
        base = Account.objects.filter(deleted_at__isnull=True)
        found: dict[int, dict[str, Any]] = {}
        reasons = {"external_id": _("same external ID"), "name": _("same name")}
        columns = {"external_id": "external_id", "name": "name_key"}
        for key in ctx.match_on:
            if key in columns:
                self.match_with(rows, ctx, key, columns[key], base, reasons[key], found)
        return found


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
        row.keys["email"] = values.get("email_index", "")
        row.keys["phone"] = values.get("phone_index", "")
        company = row.refs.get("account", "")
        if company and values.get("name_key"):
            row.keys["name_company"] = (values["name_key"], name_key(company))

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
                self.match_with(rows, ctx, key, columns[key], base, reasons[key], found)
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
            "id", "name_key", "account__name_key", "owner_id", "owner__team_id"
        ):
            hits.setdefault((hit["name_key"], hit["account__name_key"]), hit)
    for row in rows:
        key = row.keys.get("name_company")
        if key and row.match_id is None and key in hits:
            row.match_id = hits[key]["id"]
            row.reason = _("same name and company")
            found[row.match_id] = hits[key]


def resolve_accounts(rows: list[RowState], ctx: RunContext) -> None:
    """The company of each row by external ID or name; missing ones are planned for creation.

    Two accounts with the same name make the row fail (name the external ID instead), rather
    than guessing. A company is looked up once per run (a big file names the same few thousand
    companies in every batch); the run remembers the ones it creates.
    """
    live = [r for r in rows if r.action != "fail"]
    by_ext, by_name = ctx.accounts_by_ext, ctx.accounts_by_name
    ext_ids = {r.refs["account_external_id"] for r in live if r.refs.get("account_external_id")}
    names = {name_key(r.refs["account"]) for r in live if r.refs.get("account")}
    ext_ids.difference_update(by_ext)
    names = {n for n in names if n and n not in by_name}
    base = Account.objects.filter(deleted_at__isnull=True).order_by("pk")
    for value in ext_ids:
        by_ext[value] = []
    for value in names:
        by_name[value] = []
    for chunk in _chunks(sorted(ext_ids), 900):
        for account in base.filter(external_id__in=chunk).only(
            "id", "name", "name_key", "external_id"
        ):
            by_ext[account.external_id].append(account)
    for chunk in _chunks(sorted(names), 900):
        for account in base.filter(name_key__in=chunk).only(
            "id", "name", "name_key", "external_id"
        ):
            by_name[account.name_key].append(account)
    planned: dict[str, Account] = {}
    for row in live:
        ext, text = row.refs.get("account_external_id", ""), row.refs.get("account", "")
        if not ext and not text:
            continue
        if ext:
            matches = by_ext.get(ext, [])
            if len(matches) == 1:
                row.extra["account"] = matches[0]
                continue
            if len(matches) > 1:
                row.fail("account_external_id", _("Several companies have this external ID."))
                row.action = "fail"
                continue
            if not text:
                row.fail("account_external_id", _("No company has this external ID."))
                row.action = "fail"
                continue
        key = name_key(text)
        matches = by_name.get(key, [])
        if len(matches) == 1:
            row.extra["account"] = matches[0]
        elif len(matches) > 1:
            row.fail(
                "account",
                _("%(n)s companies are named “%(name)s”: give the company's external ID instead.")
                % {"n": len(matches), "name": text},
            )
            row.action = "fail"
        elif not ctx.create_missing:
            row.fail("account", _("No company is named “%s”.") % text)
            row.action = "fail"
        elif len(text) > 200:
            row.fail("account", _("A company name can have at most 200 characters."))
            row.action = "fail"
        else:
            account = planned.get(key)
            if account is None:
                account = Account(name=text, external_id=ext[:100], owner=row.extra.get("owner"))
                apply_name_keys(account, text)
                planned[key] = account
            row.extra["account"] = account
            row.extra["new_account"] = account


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
        row.keys["email"] = row.values.get("email_index", "")
        row.keys["phone"] = row.values.get("phone_index", "")
        if row.values.get("company") and row.values.get("name_key"):
            row.keys["name_company"] = (
                row.values["name_key"],
                row.values["company"].strip().lower(),
            )

    def find_existing(self, rows: list[RowState], ctx: RunContext) -> dict[int, dict[str, Any]]:
        base = Lead.objects.filter(deleted_at__isnull=True)
        found: dict[int, dict[str, Any]] = {}
        reasons = {"email": _("same email"), "phone": _("same phone")}
        columns = {"email": "email_index", "phone": "phone_index"}
        for key in ctx.match_on:
            if key in columns:
                self.match_with(rows, ctx, key, columns[key], base, reasons[key], found)
            elif key == "name_company":
                wanted = [r for r in rows if r.keys.get("name_company") and r.match_id is None]
                names = sorted({r.keys["name_company"][0] for r in wanted})
                hits: dict[tuple[str, str], dict[str, Any]] = {}
                for chunk in _chunks(names, 900):
                    for hit in base.filter(name_key__in=chunk).values(
                        "id", "name_key", "company", "owner_id", "owner__team_id"
                    ):
                        hits.setdefault((hit["name_key"], hit["company"].strip().lower()), hit)
                for row in wanted:
                    lead_hit = hits.get(row.keys["name_company"])
                    if lead_hit is not None:
                        row.match_id, row.reason = lead_hit["id"], _("same name and company")
                        found[lead_hit["id"]] = lead_hit
        return found


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


TARGETS: dict[str, Target] = {
    t.key: t
    for t in (
        ContactTarget(),
        AccountTarget(),
        LeadTarget(),
        OpportunityTarget(),
        OrderTarget(),
        ActivityTarget(),
    )
}


def target_for(key: str) -> Target:
    from crm.core.writes import field_error

    target = TARGETS.get(key)
    if target is None:
        raise field_error("target", _("Unknown import target."))
    return target
