"""The shared parts of the import targets: field descriptions, rows, the run context, the
`Target` base class and the lookups several targets use.

The engine (`importing.py`) reads rows, calls `Target.prepare` on each (pure: parse, normalise,
validate), then `Target.resolve` and `Target.find_existing` once per batch (a few indexed
queries), and writes the batch. Values go through the same normalisers as the services
(crm.core.normalise, blind indexes, `apply_name_keys`) and the model fields' own `clean()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from types import SimpleNamespace
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

from crm.activities.models import ActivityKind
from crm.core import crypto
from crm.core.mailbox import stored_email_alias
from crm.core.normalise import (
    InvalidValueError,
    normalise_email,
    normalise_id_number,
)
from crm.customers.models import Account, Channel
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
from crm.sales.models import LeadStatus, OrderStatus, Priority
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
    {
        "name_key",
        "pinyin_key",
        "initials_key",
        "email_index",
        "email_alias_index",
        "phone_index",
        "id_number_index",
        "core_name_key",
        "phone_key",
        "website_key",
    }
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
    #: companies already looked up in this run, by external ID, name key and core name (see
    #: crm.integrations.targets.companies); the import adds the ones it creates
    accounts_by_ext: dict[str, list[Account]] = field(default_factory=dict)
    accounts_by_name: dict[str, list[Account]] = field(default_factory=dict)
    accounts_by_core: dict[str, list[Account]] = field(default_factory=dict)

    def remember_accounts(self, accounts: Iterable[Account]) -> None:
        for account in accounts:
            self.accounts_by_name[account.name_key] = [account]
            if account.external_id:
                self.accounts_by_ext[account.external_id] = [account]
            self.accounts_by_core.setdefault(account.core_name_key, []).append(account)

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
        *,
        alias_column: str = "",
    ) -> None:
        """Rows whose `key` equals an existing record's `column` get that record as match.

        `alias_column` (emails): a record that stores a mailbox key there (an alias on record,
        see crm.core.mailbox) is matched by that key instead, and the rows' key is their own
        mailbox key: a@x.com and a+news@x.com are one person.
        """
        wanted = {row.keys[key] for row in rows if row.keys.get(key) and row.match_id is None}
        if not wanted:
            return
        # Most rows of a big import match nothing: probe the (tenant, column) index alone
        # (no table row is read), then read the few candidates in full.
        probe = sorted(wanted, key=str)
        candidates = ids_where_in(base.model, column, probe)
        if alias_column:
            candidates += ids_where_in(base.model, alias_column, probe)
        fields = ("id", column, *([alias_column] if alias_column else []))
        hits: dict[Any, dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(candidates)), 900):
            for hit in (
                base.filter(pk__in=chunk)
                .order_by("pk")
                .values(*fields, "owner_id", "owner__team_id")
            ):
                hits.setdefault((alias_column and hit[alias_column]) or hit[column], hit)
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
    if name == "email":
        row.values["email_alias_index"] = stored_email_alias(clean)


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
