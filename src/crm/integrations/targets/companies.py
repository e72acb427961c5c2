"""The company a row names (contacts, leads' conversions, deals, orders): found or planned.

A row names its company by external ID or by name. By name, the exact name (its name key)
wins; two accounts with that name make the row fail (name the external ID instead) rather than
guess. When no account has that name, the company's *core name* (crm.core.company_keys: legal
form, brackets and a leading province or city dropped) finds it under another spelling, as a
spreadsheet's short name 星辰科技 or 星辰科技有限公司 for the registered 北京星辰科技有限公司, or
Acme for Acme, Inc. — but only when one account fits:

* an account whose name names the same region (北京 in 北京…, …(北京)…), or none where the row
  names none, fits best;
* a row naming no region takes the only account with that core name whatever its region;
* a row naming 深圳 never takes the 北京 one: Chinese company names are registered per region.

Otherwise the company is planned for creation, as before. Companies are looked up once per run
(a big file names the same few thousand companies in every batch), and the run remembers the
ones it creates, so batch boundaries never change which company a row gets.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from crm.core.company_keys import company_core, company_region
from crm.core.normalise import name_key
from crm.customers.models import Account
from crm.customers.services import apply_company_keys, apply_name_keys
from crm.integrations.targets.base import RowState, RunContext, _chunks

_COLUMNS = ("id", "name", "name_key", "external_id", "core_name_key")


def _look_up(known: dict[str, list[Account]], column: str, values: set[str]) -> None:
    """Add to `known` the live accounts whose `column` is one of `values` not looked up yet."""
    wanted = sorted(v for v in values if v and v not in known)
    for value in wanted:
        known[value] = []
    base = Account.objects.filter(deleted_at__isnull=True).order_by("pk")
    for chunk in _chunks(wanted, 900):
        for account in base.filter(**{f"{column}__in": chunk}).only(*_COLUMNS):
            known[getattr(account, column)].append(account)


def _same_company(text: str, names: list[str]) -> int | None:
    """Which of the companies `names` (sharing the core name of `text`) `text` names, if one."""
    region = company_region(text)
    same_region = [i for i, name in enumerate(names) if company_region(name) == region]
    if len(same_region) == 1:
        return same_region[0]
    if not region and not same_region and len(names) == 1:
        return 0
    return None


def _pick(text: str, candidates: list[Account]) -> Account | None:
    found = _same_company(text, [a.name for a in candidates])
    return None if found is None else candidates[found]


def resolve_accounts(rows: list[RowState], ctx: RunContext) -> None:
    """The company of each row by external ID or name; missing ones are planned for creation."""
    live = [r for r in rows if r.action != "fail"]
    by_ext, by_name, by_core = ctx.accounts_by_ext, ctx.accounts_by_name, ctx.accounts_by_core
    texts = {r.refs["account"] for r in live if r.refs.get("account")}
    _look_up(by_ext, "external_id", {r.refs.get("account_external_id", "") for r in live})
    _look_up(by_name, "name_key", {name_key(text) for text in texts})
    unnamed = {company_core(t) for t in texts if not by_name.get(name_key(t))}
    _look_up(by_core, "core_name_key", unnamed)
    planned: dict[str, Account] = {}
    planned_by_core: dict[str, list[Account]] = {}
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
        if not matches:
            core = company_core(text)
            found = _pick(text, by_core.get(core, []) + planned_by_core.get(core, []))
            matches = [found] if found is not None else []
        if len(matches) == 1:
            row.extra["account"] = matches[0]
            if matches[0].pk is None:  # planned by an earlier row of this batch
                row.extra["new_account"] = matches[0]
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
                account = _planned_account(text, ext, row.extra.get("owner"))
                planned[key] = account
                planned_by_core.setdefault(account.core_name_key, []).append(account)
            row.extra["account"] = account
            row.extra["new_account"] = account


def _planned_account(text: str, external_id: str, owner: Any) -> Account:
    account = Account(name=text, external_id=external_id[:100], owner=owner)
    apply_name_keys(account, text)
    apply_company_keys(account)
    return account


def match_by_core_name(
    rows: list[RowState], base: models.QuerySet[Any], found: dict[int, dict[str, Any]]
) -> None:
    """An account file's rows no exact name matched: the account of the same core name that the
    row names, by the rule a contact file's company is found by (see the module's docstring):
    星辰科技(北京)有限公司 is 北京星辰科技有限公司, never 深圳星辰科技有限公司."""
    open_rows = [r for r in rows if r.match_id is None and r.values.get("core_name_key")]
    cores = sorted({r.values["core_name_key"] for r in open_rows})
    same_core: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(cores, 900):
        for hit in (
            base.filter(core_name_key__in=chunk)
            .order_by("pk")
            .values("id", "name", "core_name_key", "owner_id", "owner__team_id")
        ):
            same_core.setdefault(hit["core_name_key"], []).append(hit)
    for row in open_rows:
        candidates = same_core.get(row.values["core_name_key"], [])
        index = _same_company(row.values["name"], [hit["name"] for hit in candidates])
        if index is not None:
            hit = candidates[index]
            row.match_id = hit["id"]
            row.extra["matched_by_core_name"] = True
            names = {"a": row.values["name"], "b": hit["name"]}
            row.reason = _("same name apart from legal form or region: %(a)s / %(b)s") % names
            found[hit["id"]] = hit
